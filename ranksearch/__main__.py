import sys

from ranksearch.cli import main

sys.exit(main())
