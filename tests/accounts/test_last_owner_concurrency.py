"""Two owners demoting each other at the same moment: exactly one stays owner (PostgreSQL row locks)."""
import threading

import pytest
from django.db import connection, connections

from accounts import services
from accounts.models import Membership, Role
from tests.factories import OrganisationFactory, member_of


@pytest.mark.django_db(transaction=True)
def test_concurrent_demotions_keep_one_owner():
    if connection.vendor != "postgresql":
        pytest.skip("row locks are what is tested; SQLite serialises whole-database writes instead")
    for _ in range(5):
        org = OrganisationFactory()
        a, b = member_of(org, Role.OWNER), member_of(org, Role.OWNER)
        barrier, outcomes = threading.Barrier(2), []

        def demote(user):
            try:
                barrier.wait()
                services.membership_set_role(membership=Membership.objects.get(user=user, organisation=org),
                                             role=Role.ADMIN, by=user)
                outcomes.append("ok")
            except services.LastOwnerError:
                outcomes.append("refused")
            finally:
                connections.close_all()

        threads = [threading.Thread(target=demote, args=(u,)) for u in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(outcomes) == ["ok", "refused"]
        assert Membership.objects.filter(organisation=org, role=Role.OWNER).count() == 1
