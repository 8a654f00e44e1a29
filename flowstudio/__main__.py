import sys

from flowstudio.cli import main

sys.exit(main())
