"""Runs one unittest module and maps "everything was skipped" to exit code 77, which CTest
reports as Skipped (SKIP_RETURN_CODE), so a missing front shows up in the summary instead of
passing silently. Usage: python3 run_tests.py MODULE"""
import sys
import unittest

module = sys.argv[1]
suite = unittest.defaultTestLoader.loadTestsFromName(module)
result = unittest.TextTestRunner(verbosity=2).run(suite)
if not result.wasSuccessful():
    sys.exit(1)
if result.testsRun > 0 and len(result.skipped) == result.testsRun:
    print("all %d tests skipped:" % result.testsRun)
    for test, reason in result.skipped:
        print("  %s: %s" % (test.id(), reason))
    sys.exit(77)
sys.exit(0)
