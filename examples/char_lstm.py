# A character-level language model of Python's own documentation (the help() topics in the standard library's
# pydoc_data/topics.py), 32 characters at a time: at each position it predicts the next character. The loss is
# the mean cross-entropy per character, in nats. `python3 examples/train_char_lstm.py` makes the data, trains,
# reports the held-out loss beside a unigram model's, samples text and exports the bundle for
# examples/web/char_lstm.html; `wgslgrad generate examples/char_lstm.py --weights ... --prompt "def "` samples.
# The vocabulary is wgslgrad.text.ASCII: newline and the 95 printable ASCII characters (96 ids).
chars = Input(32)                      # character ids 0..95 (held as floats)
next_chars = Input(32, 96)             # the next character at each position, one-hot

x = embedding(chars, 96, 32)
h = lstm(x, 256, return_sequences=True)
logits = dense(h, 96, flatten=False)   # [batch, 32, 96]: a distribution over the next character per position
Output(logits)
Train(loss=softmax_cross_entropy(logits, next_chars), optimizer=Adam(lr=0.003), batch=32, epochs=8)
