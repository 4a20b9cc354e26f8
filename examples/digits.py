# A small CNN for scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes): about 98% on
# held-out digits after 12 epochs (`wgslgrad train examples/digits.py --data ... --schedule step:6:0.3`).
# Pixel values in the data set run from 0 to 16.
pixels = Input(8, 8, 1)
label = Input(10)  # one-hot

x = pixels / 16
x = conv2d(x, 16, kernel=3, activation="relu")
x = conv2d(x, 32, kernel=3, activation="relu")
x = max_pool(x, 2)
x = dense(flatten(x), 64, activation="relu")
logits = dense(x, 10)
Output(logits)
Output(softmax(logits), name="probabilities")
Train(loss=softmax_cross_entropy(logits, label), optimizer=Adam(lr=0.003), batch=32, epochs=12)
