import sys

from tinybert.cli import main

sys.exit(main())
