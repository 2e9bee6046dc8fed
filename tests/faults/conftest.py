"""Fault-test fixtures: a private PostgreSQL cluster that tests may freeze, and its databases."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.faults.cluster import PrivateCluster
from tests.support import REQUIRE_POSTGRES


@pytest.fixture(scope="session")
def private_cluster() -> Iterator[PrivateCluster]:
    """A PostgreSQL cluster of this test run alone; stopped (and thawed) whatever happens."""
    if shutil.which("initdb") is None and not list(
        Path("/usr/lib/postgresql").glob("*/bin/initdb")
    ):
        if REQUIRE_POSTGRES:
            pytest.fail("REQUIRE_SERVICES/REQUIRE_POSTGRES=1 but initdb is not installed")
        pytest.skip("initdb not installed")
    cluster = PrivateCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster(private_cluster: PrivateCluster) -> Iterator[PrivateCluster]:
    """The private cluster, thawed again after the test even if the test failed while frozen."""
    try:
        yield private_cluster
    finally:
        private_cluster.thaw()


def new_database(cluster: PrivateCluster) -> str:
    """A new, empty database in the private cluster; its SQLAlchemy URL."""
    name = f"fault_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(cluster.url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return cluster.url.rsplit("/", 1)[0] + "/" + name
