"""TextCNN student on words (Kim 2014), distilled like the BiLSTM (Tang et al. 2019)."""

from core.methods import Method, register
from core.methods._word import load, steps, train
from core.methods._word_config import StudentConfig

register(
    Method(
        name="textcnn",
        title="TextCNN",
        family="word",
        config=StudentConfig,
        summary="Parallel convolutions (3/4/5 words) with max-pooling: the fastest student at "
        "batch 1, distilled on the teacher's logits like the BiLSTM.",
        needs=("logits",),
        train=train,
        steps=steps,
        load=load,
        parallel=True,
        rank=2,
        meta_distil=True,
        paper="Kim 2014, Convolutional Neural Networks for Sentence Classification",
    )
)
