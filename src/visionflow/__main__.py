import sys

from visionflow.cli import main

sys.exit(main())
