import sys

from services.cli import main

sys.exit(main(["reconciler", *sys.argv[1:]]))
