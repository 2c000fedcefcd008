"""A tiny order store on SQLAlchemy, written the way production needs it against a database that can drop
connections: the pool pings a connection before handing it out (pool_pre_ping), and a unit of work whose
connection died is rolled back and run again, whole, on a new connection. The same code runs on PostgreSQL
(psycopg2) and MySQL/MariaDB (PyMySQL): the URL picks the driver."""

import os

from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

SCHEMA = "CREATE TABLE orders (id BIGINT PRIMARY KEY, customer VARCHAR(100) NOT NULL)"


def make_engine(url=None):
    """The application's engine; DATABASE_URL is what `testdbkit serve --json` prints as urls.sqlalchemy."""
    return create_engine(url or os.environ["DATABASE_URL"], pool_pre_ping=True)


def in_transaction(engine, work, attempts=3, between=None):
    """Runs work(connection) in one transaction. When the connection dies on the way (the server killed the
    session, or timed it out), SQLAlchemy refuses the connection until the transaction is rolled back ("Can't
    reconnect until invalid transaction is rolled back"): engine.begin() rolls it back, and the whole unit runs
    again on a new connection. Errors that are not a lost connection are raised at once."""
    for attempt in range(1, attempts + 1):
        try:
            with engine.begin() as connection:
                return work(connection)
        except DBAPIError as e:
            if not e.connection_invalidated or attempt == attempts:
                raise
            if between is not None:
                between(e)


def add_orders(engine, orders, after_first=None):
    """Stores [(id, customer), ...] in one transaction: all of them, or none. `after_first` runs after the first
    insert (a test breaks the connection there)."""
    def work(connection):
        for i, (order_id, customer) in enumerate(orders):
            connection.execute(text("INSERT INTO orders (id, customer) VALUES (:id, :customer)"),
                               {"id": order_id, "customer": customer})
            if i == 0 and after_first is not None:
                after_first()
    in_transaction(engine, work)


def count_orders(engine):
    return in_transaction(engine, lambda c: c.execute(text("SELECT count(*) FROM orders")).scalar())
