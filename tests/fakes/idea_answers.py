"""Model answers for the IdeaAgent's stages, in the shapes small models really produce."""
from __future__ import annotations

UNDERSTANDING = """**Research Tasks:**
- Classify 8x8 handwritten digits with classical models
- Make small-image classifiers robust to one-pixel shifts

**Research Gaps:**
- The gain of shift augmentation on tiny images is not measured
- Whether ensembling and augmentation add up is unknown

**Keywords:** data augmentation, digit classification, ensemble learning
"""

RELATED = """Summary: Recent work shows augmentation and soft-voting ensembles help small data sets.
Opportunities:
- Measure both on 8x8 digits
- Combine with test-time augmentation
"""

PROBLEM = """## Research Problem
Does adding one-pixel shifted copies of the training images improve the test accuracy of a
classical classifier on the 8x8 digits data set?

## Rationale
Handwriting varies mostly by small translations, which pixel models ignore.
"""


def hypothesis(n: int = 1) -> str:
    method = {1: "shift augmentation with an SVM", 2: "a soft-voting ensemble of SVM, kNN and MLP"}.get(n, f"method {n}")
    return (f"Hypothesis: Training {method} on the digits raises test accuracy by at least one point "
            f"over logistic regression.\nRationale: It encodes translation invariance (variant {n}).")


PLAN = """1. **Datasets:** scikit-learn digits (8x8), the fixed split of the workspace
2. **Baselines:** unchanged train.py (logistic regression)
3. **Metrics:** test accuracy
4. **Files to Change:** train.py
5. **Steps:**
   1. Run train.py unchanged and record the accuracy
   2. Add four one-pixel shifts of every training image
   3. Train the model on the augmented set and write submission.csv
   4. Compare the accuracy with the baseline
6. **Rationale:** The plan isolates the effect of the augmentation.
"""


def review(scores=(4, 4, 3, 5, 2)) -> str:
    names = ("Clarity", "Validity", "Rigor", "Feasibility", "Novelty")
    return "\n".join(f"{n}: {s} - reason for {n.lower()}" for n, s in zip(names, scores))


def full_run(ideas: int = 1, related: bool = False, scores=None) -> list[str]:
    """The answers of one whole generation, stage by stage, in call order."""
    out = [UNDERSTANDING] + ([RELATED] if related else []) + [PROBLEM]
    for i in range(1, ideas + 1):
        out += [hypothesis(i), PLAN]
    for i in range(ideas):
        out.append(review(scores[i] if scores else (4, 4, 3, 5, 2)))
    return out
