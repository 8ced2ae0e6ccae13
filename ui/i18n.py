"""The app's words in English and Simplified Chinese: one table, used through gr.I18n (launch(i18n=...)).

The browser's language picks the table (zh-CN → Chinese), English otherwise. Tab and section names are their
own keys (English text), so the tests and the API see the same names as before; longer texts have short keys.
"""

from __future__ import annotations

import gradio as gr

TRANSLATIONS: dict[str, dict[str, str]] = {
    "en": {
        "intro": "# ✏️ MNIST playground\nDraw a digit and watch seven classic PyTorch models read it. Train them live "
                 "on the real MNIST set, see where they go wrong, and explore the data — all on a laptop CPU.",
        "Draw & look inside": "Draw & look inside",
        "look_purpose": "Draw a digit and see how the models read it: what they see, which pixels decided, how the "
                        "LSTM reads row by row, and where your digit lands in their last layer.",
        "Train & evaluate": "Train & evaluate",
        "learn_purpose": "Train a model yourself and watch it learn, teach one your own handwriting, and score every "
                         "model on the 10,000 test images.",
        "The seeds' experiments": "The seeds' experiments",
        "seeds_purpose": "What the five tutorials set out to show, re-run: LeNet-5 taken apart, shuffled pixels, an "
                         "RNN turning sin into cos, and the dataset itself.",
        "Draw": "Draw",
        "Model's eye": "Model's eye",
        "Why this digit?": "Why this digit?",
        "Trust": "Trust",
        "LSTM reader": "LSTM reader",
        "t-SNE": "t-SNE",
        "Train": "Train",
        "Teach it": "Teach it",
        "Evaluate": "Evaluate",
        "LeNet-5": "LeNet-5",
        "Pixel shuffle": "Pixel shuffle",
        "sin → cos RNN": "sin → cos RNN",
        "Dataset": "Dataset",
    },
    "zh-CN": {
        "intro": "# ✏️ MNIST 游乐场\n画一个数字，看七个经典 PyTorch 模型怎样读它。在真实的 MNIST 数据上现场训练它们，"
                 "看它们在哪里出错，探索数据——全部在一台笔记本电脑的 CPU 上完成。",
        "Draw & look inside": "画数字 · 看内部",
        "look_purpose": "画一个数字，看模型怎样读它：它们看到了什么，哪些像素起了决定作用，LSTM 怎样逐行阅读，"
                        "以及你的数字落在它们最后一层的哪个位置。",
        "Train & evaluate": "训练与评估",
        "learn_purpose": "亲手训练一个模型并看它学习，用你自己的笔迹教它，并在 10,000 张测试图像上给每个模型打分。",
        "The seeds' experiments": "教程里的实验",
        "seeds_purpose": "重做五篇教程想要展示的实验：拆开 LeNet-5、打乱像素、把 sin 变成 cos 的 RNN，以及数据集本身。",
        "Draw": "画数字",
        "Model's eye": "模型之眼",
        "Why this digit?": "为什么是这个数字？",
        "Trust": "可信吗？",
        "LSTM reader": "LSTM 逐行阅读",
        "t-SNE": "t-SNE",
        "Train": "训练",
        "Teach it": "教它认你的字",
        "Evaluate": "评估",
        "LeNet-5": "LeNet-5",
        "Pixel shuffle": "像素打乱",
        "sin → cos RNN": "sin → cos 循环网络",
        "Dataset": "数据集",
    },
}
I18N = gr.I18n(**TRANSLATIONS)


def t(key: str) -> gr.i18n.I18nData:
    """The translatable text for `key` (KeyError for a key the table lacks, so a typo fails at build time)."""
    if key not in TRANSLATIONS["en"]:
        raise KeyError(f"no translation for {key!r} in ui/i18n.py")
    return I18N(key)
