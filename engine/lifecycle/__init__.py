"""The model lifecycle beside the hot path: train the next version from what the stream recorded.

- ``retrain``  read the newest inputs and their delayed labels back from Kafka and hand them to the
               plugin's ``retrain``, which trains and exports version N+1 into a Triton repository
               (``from engine.lifecycle.retrain import retrain, read_recent``).
"""
