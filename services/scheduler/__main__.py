import sys

from services.cli import main

sys.exit(main(["scheduler", *sys.argv[1:]]))
