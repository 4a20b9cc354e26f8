# The digits CNN as a feature extractor (examples/transfer_digits.py): trained on digits 0-6 only, its
# 64 "features" (the last hidden layer, declared an Output) then serve new classes, 7-9, through a KNN
# head or a dense head trained with this backbone frozen (examples/digits_head.py).
pixels = Input(8, 8, 1)
label = Input(7)  # one-hot, digits 0-6

x = pixels / 16
x = conv2d(x, 16, kernel=3, activation="relu", name="backbone/conv0")
x = conv2d(x, 32, kernel=3, activation="relu", name="backbone/conv1")
x = max_pool(x, 2)
features = dense(flatten(x), 64, activation="relu", name="backbone/features")
Output(features, name="features")
logits = dense(features, 7, name="head")
Output(logits)
Output(softmax(logits), name="probabilities")
Train(loss=softmax_cross_entropy(logits, label), optimizer=Adam(lr=0.003), batch=32, epochs=6)
