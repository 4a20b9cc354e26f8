# examples/digits.py with batch normalisation and dropout: each conv's bias is left out (the batch norm's beta
# takes its place), and the hidden dense layer's output is dropped at a rate of 0.3 while training. At
# inference the batch norms run on their moving statistics inside the conv kernels and dropout is off.
# momentum=0.9 rather than Keras' 0.99: an epoch is only 45 steps here, and the moving statistics should
# follow the weights within an epoch or two.
pixels = Input(8, 8, 1)
label = Input(10)  # one-hot

x = pixels / 16
x = relu(batch_norm(conv2d(x, 16, kernel=3, use_bias=False), momentum=0.9))
x = relu(batch_norm(conv2d(x, 32, kernel=3, use_bias=False), momentum=0.9))
x = max_pool(x, 2)
x = dropout(dense(flatten(x), 64, activation="relu"), 0.3)
logits = dense(x, 10)
Output(logits)
Output(softmax(logits), name="probabilities")
Train(loss=softmax_cross_entropy(logits, label), optimizer=Adam(lr=0.003), batch=32, epochs=8)
