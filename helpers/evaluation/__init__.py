"""How good is a generator? Measurements the lessons print; no training of the lessons' networks here.

- :mod:`~helpers.evaluation.digit_metrics` -- digit Frechet distance, mode coverage, label accuracy with the shipped
  evaluator CNN (lessons 3-4)
- :mod:`~helpers.evaluation.domain_classifier` -- the domain classifier (A, B or neither) and the cycle error
  (lesson 5)
"""
