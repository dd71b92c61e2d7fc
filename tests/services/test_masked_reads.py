"""Personal values read masked without decrypting: a sealed value keeps its masked form beside the token,
a read inside ``crypto.masked_reads`` returns that form (no key opens anything), values sealed before the
masked form was kept are decrypted and masked, and nothing is written while reading masked."""

from __future__ import annotations

import pytest
from sqlalchemy import JSON, Column, Integer, MetaData, Table, create_engine, insert, select, type_coerce
from sqlalchemy.exc import StatementError

from engine import crypto, privacy
from engine.forms import with_check_digit

ID = with_check_digit("99999919800101001")
PHONE = "13912345678"
DATA = {"applicant_id_number": ID, "members": [{"id_number": ID, "phone": PHONE, "name": "测试甲"}], "n": 3}
MASKED = {
    "applicant_id_number": privacy.mask_id_number(ID),
    "members": [{"id_number": privacy.mask_id_number(ID), "phone": "139****5678", "name": "测试甲"}],
    "n": 3,
}


class Counting(crypto.Keyring):
    """A keyring that counts the values it opens."""

    def __init__(self, ring: crypto.Keyring) -> None:
        self.__dict__.update(ring.__dict__)
        self.opened = 0

    def decrypt(self, stored: str) -> str:
        self.opened += 1
        return super().decrypt(stored)


def test_a_sealed_value_keeps_its_masked_form_and_only_the_token_holds_the_number():
    ring = crypto.keyring()
    stored = crypto.seal(DATA, ring)
    token = stored["members"][0]["id_number"]
    assert token.startswith(crypto.PREFIX) and token.endswith("~" + privacy.mask_id_number(ID))
    assert ID not in str(stored) and PHONE not in str(stored)
    assert crypto.unseal(stored, ring) == DATA  # the masked form does not get in the way of decrypting
    assert ring.decrypt(token) == ID


def test_reading_masked_decrypts_nothing_and_masks_older_values():
    counting = Counting(crypto.keyring())
    stored = crypto.seal(DATA, counting)
    shown = crypto.unseal_masked(stored, counting)
    assert shown == MASKED and counting.opened == 0
    assert isinstance(shown, crypto.MaskedDict) and privacy.for_viewer(None, shown) is shown  # type: ignore[arg-type]
    # sealed before the masked form was kept: the bare token is opened, then masked
    legacy = {"phone": counting.encrypt(PHONE), "note": "enc1:typed by a user"}
    assert crypto.unseal_masked(legacy, counting) == {"phone": "139****5678", "note": "enc1:typed by a user"}
    assert counting.opened == 1


def test_a_sealed_column_reads_masked_inside_masked_reads_and_refuses_writes():
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("data", crypto.SealedJSON))
    engine = create_engine("sqlite://")
    table.metadata.create_all(engine)
    with engine.begin() as c:
        c.execute(insert(table).values(id=1, data=DATA))
        raw = c.scalar(select(type_coerce(table.c.data, JSON)))
        assert ID not in str(raw)
        assert c.scalar(select(table.c.data)) == DATA
        with crypto.masked_reads():
            assert c.scalar(select(table.c.data)) == MASKED
            with pytest.raises(StatementError) as refused:
                c.execute(insert(table).values(id=2, data=DATA))
            assert isinstance(refused.value.orig, RuntimeError)
        assert c.scalar(select(table.c.data)) == DATA  # outside, plaintext again
    engine.dispose()
