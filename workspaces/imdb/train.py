"""Baseline for the IMDb task: naive Bayes on counts of the 1,000 most frequent words.

Reads data/train.csv and data/test.csv, prints the accuracy on a held-out part of the
training reviews, and writes the probability of each sentiment for every test review to
submission.csv.
"""
import pandas as pd
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import make_pipeline

train = pd.read_csv("data/train.csv")
test = pd.read_csv("data/test.csv")


def make_model():
    return make_pipeline(CountVectorizer(max_features=1000), MultinomialNB())


# Check the model on a validation split of the training reviews.
x_fit, x_val, y_fit, y_val = train_test_split(train["text"], train["label"], test_size=0.2, random_state=0)
model = make_model().fit(x_fit, y_fit)
print(f"Validation accuracy: {accuracy_score(y_val, model.predict(x_val)):.4f}")

# Train on all training reviews and predict the test reviews.
model = make_model().fit(train["text"], train["label"])
probabilities = model.predict_proba(test["text"])
submission = pd.DataFrame(probabilities, columns=[str(c) for c in model.classes_])
submission.insert(0, "id", test["id"])
submission.to_csv("submission.csv", index=False)
print(f"Wrote submission.csv with {len(submission)} rows")
