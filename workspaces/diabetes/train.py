"""Baseline for the diabetes task: a shallow decision tree regressor on all ten variables.

Reads data/train.csv and data/test.csv, prints the RMSE on a held-out part of the training
data, and writes the predicted progression of every test patient to submission.csv.
"""
import pandas as pd
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeRegressor

train = pd.read_csv("data/train.csv")
test = pd.read_csv("data/test.csv")
features = [c for c in train.columns if c not in ("id", "progression")]

# Check the model on a validation split of the training data.
x_fit, x_val, y_fit, y_val = train_test_split(
    train[features], train["progression"], test_size=0.2, random_state=0)
model = DecisionTreeRegressor(max_depth=3, random_state=0)
model.fit(x_fit, y_fit)
print(f"Validation RMSE: {mean_squared_error(y_val, model.predict(x_val)) ** 0.5:.2f}")

# Train on all training patients and predict the test patients.
model.fit(train[features], train["progression"])
submission = pd.DataFrame({"id": test["id"], "progression": model.predict(test[features])})
submission.to_csv("submission.csv", index=False)
print(f"Wrote submission.csv with {len(submission)} rows")
