"""Starts moto server with the fixes the local run needs; arguments are moto_server's (-H host -p port).

moto 5.2.1, Step Functions with execute_state_machine on: StartExecution (StepFunctionsParserBackend in
moto/stepfunctions/parser/models.py) deep-copies the state machine, which holds its backend (every state machine
and running execution, with their locks) and its own executions. The second StartExecution of a machine then
fails with HTTP 500 "cannot pickle '_thread.RLock' object". A clone needs neither: the backend is shared state,
and the clone only drives the new execution.
"""

import copy
import faulthandler
import os
import signal
import sys
import threading
import time

INSTALL_HINT = "install it with: pip install 'moto[server]'"


def _deepcopy_keeping_runtime(self, memo):
    clone = self.__class__.__new__(self.__class__)
    memo[id(self)] = clone
    for key, value in self.__dict__.items():
        if key == "backend":
            setattr(clone, key, value)
        elif key == "executions":
            setattr(clone, key, [])
        else:
            setattr(clone, key, copy.deepcopy(value, memo))
    return clone


def patch_state_machine_deepcopy():
    from moto.stepfunctions.models import StateMachine, StateMachineInstance

    # Refuse to run on a moto whose StateMachine no longer has the attributes this fix is about.
    probe = StateMachine(
        arn="arn:aws:states:us-east-1:123456789012:stateMachine:probe",
        name="probe",
        definition="{}",
        roleArn="arn:aws:iam::123456789012:role/probe",
        backend=None,
    )
    missing = {"backend", "executions"} - set(vars(probe))
    if missing:
        raise RuntimeError(f"moto's StateMachine has no {sorted(missing)}; review local/moto_server.py")
    # On the base class, so published versions (StateMachineVersion) are covered too.
    StateMachineInstance.__deepcopy__ = _deepcopy_keeping_runtime


def patch_transaction_backup():
    """moto 5.2.1's TransactWriteItems backs up a table by deep-copying it once per action, not once per table: a
    100-action transaction on a table of n items costs 100 copies of n items (seconds and gigabytes once a table
    holds a few thousand rows). Copy each table once per transaction; the backup, and so the rollback, is the same.
    Its rollback also left the stream records of the cancelled actions in the stream (a counter ADD that never
    happened reached the evaluator): those are dropped here.
    """
    import copy as real_copy

    import moto.dynamodb.models as dynamodb_models

    if getattr(dynamodb_models, "copy", None) is not real_copy:
        raise RuntimeError("moto.dynamodb.models no longer uses the copy module; review local/moto_server.py")
    per_thread = threading.local()

    class CopyOncePerTransaction:
        def deepcopy(self, value, memo=None):
            cache = getattr(per_thread, "cache", None)
            if cache is None:
                return real_copy.deepcopy(value, memo)
            if id(value) not in cache:
                cache[id(value)] = real_copy.deepcopy(value)
            return cache[id(value)]

        def __getattr__(self, name):
            return getattr(real_copy, name)

    dynamodb_models.copy = CopyOncePerTransaction()
    backend = dynamodb_models.DynamoDBBackend
    original = backend.transact_write_items

    def transact_write_items(self, transact_items):
        per_thread.cache = {}
        tables = dict(self.tables)
        stream_lengths = {name: len(t.stream_shard.items) for name, t in tables.items() if t.stream_shard is not None}
        try:
            return original(self, transact_items)
        except Exception:
            # moto's rollback swaps in the backup copies. Put the state back into the original table objects instead,
            # and drop the stream records the cancelled actions wrote: open shard iterators keep reading the same
            # shard, and DynamoDB emits no records for a cancelled transaction.
            for name, table in tables.items():
                restored = self.tables.get(name)
                if restored is None or restored is table:
                    continue
                shard = table.stream_shard
                table.__dict__.update(restored.__dict__)
                if shard is not None:
                    del shard.items[stream_lengths.get(name, 0) :]
                    shard.table = table
                    table.stream_shard = shard
                self.tables[name] = table
            raise
        finally:
            per_thread.cache = None

    backend.transact_write_items = transact_write_items


def patch_dynamodb_write_isolation():
    """moto 5.2.1 runs requests on threads but does not isolate DynamoDB writes from each other. TransactWriteItems
    backs up whole tables, applies its actions, and on cancellation puts the backups back: writes other threads
    committed in between are silently lost (a counter ADD vanishes), and a backup taken while another thread writes
    fails with "dictionary changed size during iteration". DynamoDB serializes a transaction against other writes
    to its items; one lock over moto's DynamoDB writes gives the same guarantee here."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    writes = ["put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item"]
    missing = [name for name in writes if not hasattr(DynamoDBBackend, name)]
    if missing:
        raise RuntimeError(f"moto's DynamoDBBackend has no {missing}; review local/moto_server.py")

    def serialized(method):
        def write(self, *args, **kwargs):
            with lock:
                return method(self, *args, **kwargs)

        return write

    for name in writes:
        setattr(DynamoDBBackend, name, serialized(getattr(DynamoDBBackend, name)))

    # A transaction applies its actions one by one and restores the backups when one fails; the stream records of
    # the actions applied before the failure must never be read (DynamoDB emits none for a cancelled transaction).
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    for name in ["get_shard_iterator", "get_records"]:
        setattr(DynamoDBStreamsBackend, name, serialized(getattr(DynamoDBStreamsBackend, name)))


def patch_sqs_retention_check():
    """moto 5.2.1's ReceiveMessage checks each message's retention by computing every queue attribute, and
    ApproximateNumberOfMessages scans the whole queue: receiving n queued messages costs n^2 (a minute for a
    thousand CloudTrail events). Read the one attribute it needs."""
    from moto.core.utils import unix_time
    from moto.sqs.models import SQSBackend

    if not hasattr(SQSBackend, "is_message_valid_based_on_retention_period"):
        raise RuntimeError("moto's SQSBackend changed; review local/moto_server.py")

    def is_message_valid_based_on_retention_period(self, queue_name, message):
        retention_period = int(self.get_queue(queue_name).message_retention_period)
        return retention_period + message.sent_timestamp / 1000 > unix_time()

    SQSBackend.is_message_valid_based_on_retention_period = is_message_valid_based_on_retention_period


def exit_with_parent():
    """Stops the server when the process that started it dies, even by SIGKILL (it is then reparented)."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def exit_at_once(_signum, _frame):
    # moto keeps everything in memory: there is nothing to flush, and interpreter teardown only slows stop().
    os._exit(0)


def main(argv):
    try:
        import moto.server
    except ImportError as error:
        print(f"moto server is not available to {sys.executable} ({error}); {INSTALL_HINT}", file=sys.stderr)
        return 3
    patch_state_machine_deepcopy()
    patch_transaction_backup()
    patch_dynamodb_write_isolation()
    patch_sqs_retention_check()
    # `kill -USR1 <pid>` prints every thread's stack to stderr: how to see what a busy local AWS is doing.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    if os.environ.get("BUDGETEER_EXIT_WITH_PARENT") == "1":
        exit_with_parent()
    # main() installs this module-level handler for SIGINT and SIGTERM.
    moto.server.signal_handler = exit_at_once
    moto.server.main(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
