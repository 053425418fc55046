"""BiLSTM student on words, distilled on teacher logits with MSE (Tang et al. 2019)."""

from core.methods import Method, register
from core.methods._word import load, steps, train
from core.methods._word_config import StudentConfig

register(
    Method(
        name="bilstm",
        title="BiLSTM",
        family="word",
        config=StudentConfig,
        summary="One bidirectional LSTM layer over jieba words, trained on the teacher's logits "
        "(MSE) over the labelled, transfer and augmented texts: Tang et al. 2019's student.",
        needs=("logits",),
        train=train,
        steps=steps,
        load=load,
        parallel=True,
        rank=1,
        meta_distil=True,
        paper="Tang et al. 2019, Distilling Task-Specific Knowledge from BERT into Simple "
        "Neural Networks",
    )
)
