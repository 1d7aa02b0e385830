"""A plausible but wrong answer per checker (source code defining the same name as the exercise's stub).

tests/test_exercises.py runs each through its checker and expects 'failed'.
"""

WRONG = {
    "bright_fraction": '''
import numpy as np
def bright_fraction(image, threshold):
    return float(np.sum(image > threshold))   # a count, not a fraction
''',
}
