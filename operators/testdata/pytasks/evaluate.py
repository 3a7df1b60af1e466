"""A module for the tests of operators.Python (python3 -m pytasks.evaluate)."""
import sys

if __name__ == "__main__":
    print("module %s args=%s" % (__name__, ",".join(sys.argv[1:])))
