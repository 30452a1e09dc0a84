"""Baseline for the wine task: k-nearest neighbours on the raw measurements.

Reads data/train.csv and data/test.csv, prints the accuracy on a held-out part of the
training data, and writes one probability per cultivar for every test wine to submission.csv.
"""
import pandas as pd
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier

train = pd.read_csv("data/train.csv")
test = pd.read_csv("data/test.csv")
features = [c for c in train.columns if c not in ("id", "cultivar")]

# Check the model on a validation split of the training data.
x_fit, x_val, y_fit, y_val = train_test_split(
    train[features], train["cultivar"], test_size=0.25, stratify=train["cultivar"], random_state=0)
model = KNeighborsClassifier(n_neighbors=5)
model.fit(x_fit, y_fit)
print(f"Validation accuracy: {accuracy_score(y_val, model.predict(x_val)):.4f}")

# Train on all training wines and predict the test wines.
model.fit(train[features], train["cultivar"])
probabilities = model.predict_proba(test[features])
submission = pd.DataFrame(probabilities, columns=[str(c) for c in model.classes_])
submission.insert(0, "id", test["id"])
submission.to_csv("submission.csv", index=False)
print(f"Wrote submission.csv with {len(submission)} rows")
