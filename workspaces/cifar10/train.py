"""Baseline for CIFAR-10: a small convolutional network trained for a few epochs with PyTorch.

Reads data/train.npz and data/test.npz, prints the accuracy on a held-out part of the
training images, and writes one probability per class for every test image to submission.csv.
"""
import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

EPOCHS = 5
BATCH_SIZE = 128
LEARNING_RATE = 0.1
device = "cuda" if torch.cuda.is_available() else "cpu"
torch.manual_seed(0)


def to_tensor(images):
    """uint8 (N, 32, 32, 3) -> float (N, 3, 32, 32) scaled to [-1, 1]."""
    return (torch.tensor(images, dtype=torch.float32).permute(0, 3, 1, 2) / 255.0 - 0.5) / 0.5


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def predict(model, images):
    model.eval()
    outputs = []
    with torch.no_grad():
        for start in range(0, len(images), 1000):
            outputs.append(F.softmax(model(images[start:start + 1000].to(device)), dim=1).cpu())
    return torch.cat(outputs)


train = np.load("data/train.npz")
test = np.load("data/test.npz")
images, labels = to_tensor(train["images"]), torch.tensor(train["labels"], dtype=torch.long)
n_val = len(images) // 10  # hold out 10% of the training images for validation
x_fit, y_fit, x_val, y_val = images[n_val:], labels[n_val:], images[:n_val], labels[:n_val]

model = Net().to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=0.9)
for epoch in range(EPOCHS):
    model.train()
    order = torch.randperm(len(x_fit))
    for start in range(0, len(order), BATCH_SIZE):
        idx = order[start:start + BATCH_SIZE]
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x_fit[idx].to(device)), y_fit[idx].to(device))
        loss.backward()
        optimizer.step()
    val_acc = (predict(model, x_val).argmax(dim=1) == y_val).float().mean().item()
    print(f"Epoch {epoch + 1}: last batch loss {loss.item():.3f}, validation accuracy {val_acc:.4f}")

probabilities = predict(model, to_tensor(test["images"])).numpy()
submission = pd.DataFrame(probabilities, columns=[str(c) for c in range(10)])
submission.insert(0, "id", test["ids"])
submission.to_csv("submission.csv", index=False)
print(f"Wrote submission.csv with {len(submission)} rows")
