"""The `DeadLetters` port on Firestore: `deadLetters/{topic}:{eventId}` and
`deliveryFailures/{fingerprint}` in the control project."""

from __future__ import annotations

from typing import Any

from google.api_core.exceptions import InvalidArgument

from shared.dead_letters import DeadLetter, DeliveryFailure, bare, doc_id

DEAD_LETTERS = "deadLetters"
DELIVERY_FAILURES = "deliveryFailures"


def letter_ref(db: Any, letter: DeadLetter) -> Any:
    return db.collection(DEAD_LETTERS).document(doc_id(letter.key))


class FirestoreDeadLetters:
    def __init__(self, db: Any) -> None:
        self.db = db

    def put(self, letter: DeadLetter) -> None:
        try:
            letter_ref(self.db, letter).set(letter.to_doc())
        except InvalidArgument:
            letter_ref(self.db, letter).set(bare(letter).to_doc())

    def note_failure(self, failure: DeliveryFailure) -> None:
        self.db.collection(DELIVERY_FAILURES).document(failure.fingerprint).set(failure.to_doc())

    def last_failure(self, fingerprint: str) -> DeliveryFailure | None:
        snap = self.db.collection(DELIVERY_FAILURES).document(fingerprint).get()
        return DeliveryFailure.model_validate(snap.to_dict()) if snap.exists else None
