"""The order store's tests: what it does, and that it survives the database dropping its connections."""

import time

import pytest

import orders


def test_orders_added_in_one_transaction_are_counted(engine):
    orders.add_orders(engine, [(1, "ada"), (2, "grace")])

    assert orders.count_orders(engine) == 2


@pytest.mark.fault
def test_a_pooled_connection_the_server_timed_out_is_replaced(engine, fault):
    with fault("idle", value="1s", hold="60s"):
        engine.dispose()  # sessions opened from now on get the 1 s idle timeout
        orders.add_orders(engine, [(1, "ada")])
        time.sleep(2)  # the pooled connection lies idle past the server's timeout: the server ends it

        orders.add_orders(engine, [(2, "grace")])  # pool_pre_ping notices and reconnects

    assert orders.count_orders(engine) == 2


@pytest.mark.fault
def test_a_transaction_whose_session_is_killed_runs_again_whole(engine, fault):
    kills = []

    def kill_once():
        if not kills:
            with fault("kill") as started:
                kills.append(started)

    orders.add_orders(engine, [(1, "ada"), (2, "grace")], after_first=kill_once)

    assert kills, "the kill fault never ran"
    assert orders.count_orders(engine) == 2  # the first attempt's insert went with its session; no duplicate
