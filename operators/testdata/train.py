"""A Python task for the tests of operators.Python: prints its arguments and
context, and fails with status 4 when asked to."""
import os
import sys

print("args=" + ",".join(sys.argv[1:]))
print("task=%s seq=%s mine=%s" % (os.environ["AIFLOW_TASK"], os.environ["AIFLOW_SEQ_NUM"], os.environ.get("MINE", "")))
print("to stderr", file=sys.stderr)
if "--fail" in sys.argv:
    sys.exit(4)
