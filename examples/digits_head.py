# A new dense head for digits 7-9 on the frozen backbone of examples/digits_backbone.py (trainable=False:
# no gradients, no Adam updates for those layers). Load the backbone's trained weights first, skipping
# the old head: model.load_weights("backbone.safetensors", skip=["head"]).
pixels = Input(8, 8, 1)
label = Input(3)  # one-hot, digits 7, 8, 9

x = pixels / 16
x = conv2d(x, 16, kernel=3, activation="relu", trainable=False, name="backbone/conv0")
x = conv2d(x, 32, kernel=3, activation="relu", trainable=False, name="backbone/conv1")
x = max_pool(x, 2)
features = dense(flatten(x), 64, activation="relu", trainable=False, name="backbone/features")
logits = dense(features, 3, name="head")
Output(logits)
Output(softmax(logits), name="probabilities")
Train(loss=softmax_cross_entropy(logits, label), optimizer=Adam(lr=0.01), batch=15, epochs=60)
