"""Character students: BiLSTM and TextCNN reading the teacher tokenizer's pieces instead of
jieba words (characters for Chinese, word pieces for English).

Why: jieba is most of a word student's batch-1 latency, and word embeddings learnt from scratch on
~1,000 labelled rows are poor. Reading the teacher's pieces drops the segmenter from the latency
path, and lets the student start from the teacher's own input embeddings, reduced to the
student's width by PCA. The plain twin starts from the same embeddings, so the report separates
what the embeddings gave from what distillation gave.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from core.config import opt
from core.methods import Method, register
from core.methods._word import steps, train
from core.methods._word_config import StudentConfig
from core.methods._word_models import load_student


@dataclass
class CharStudentConfig(StudentConfig):
    TOKENS: ClassVar[str] = "pieces"

    method: str = opt(
        "textcnn_char",
        help="The registered method this config belongs to.",
        choices=["bilstm_char", "textcnn_char"],
    )
    max_len: int = opt(
        128,
        help="Teacher-tokenizer pieces a character student reads per text (one per Chinese "
        "character).",
        flag="--char-max-len",
        min=8,
        max=512,
        step=8,
    )
    embed_init: str = opt(
        "teacher_pca",
        help="Initial piece embeddings: the teacher's input embeddings reduced to embed_dim by "
        "PCA (scaled to unit variance), or random. Plain twins start from the same ones.",
        flag="--char-embed-init",
        choices=["teacher_pca", "random"],
    )


def load(folder):
    return load_student(folder, CharStudentConfig)


for _name, _title, _summary in (
    (
        "textcnn_char",
        "TextCNN on characters",
        "A TextCNN (3/4/5 pieces) over the teacher tokenizer's pieces (characters for Chinese) "
        "instead of jieba words, starting from the teacher's own input embeddings reduced by "
        "PCA; no segmenter on the latency path.",
    ),
    (
        "bilstm_char",
        "BiLSTM on characters",
        "The paper's BiLSTM over the teacher tokenizer's pieces (characters for Chinese) "
        "instead of jieba words, starting from the teacher's input embeddings reduced by PCA.",
    ),
):
    register(
        Method(
            name=_name,
            title=_title,
            family="char",
            config=CharStudentConfig,
            summary=_summary,
            needs=("logits", "tokenizer", "embeddings"),
            train=train,
            steps=steps,
            load=load,
            parallel=True,
            rank={"bilstm_char": 1, "textcnn_char": 2}[_name],
            meta_distil=True,
            paper="Tang et al. 2019, with the teacher's pieces and embeddings",
        )
    )
