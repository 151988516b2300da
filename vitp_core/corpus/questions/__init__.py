"""Templated questions and answers generated from labels (classes, masks, boxes, changes).

Each module turns one kind of label into ``(question, answer)`` pairs with several
phrasings, chosen by a seeded :class:`random.Random`; answers are computed from the
label only, so no two answers of a record can contradict it or each other.
"""
