"""Starts moto server with the fixes the local run needs; arguments are moto_server's (-H host -p port).

Each patch_* function below fixes one thing in moto 5.2.1 (why, in its docstring) and refuses to start on a moto
that no longer looks the way the fix assumes. Patched here, never in site-packages.
"""

import copy
import faulthandler
import os
import signal
import sys
import threading
import time
import types

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
    """With execute_state_machine on, StartExecution (StepFunctionsParserBackend in
    moto/stepfunctions/parser/models.py) deep-copies the state machine, which holds its backend (every state
    machine and running execution, with their locks) and its own executions. The second StartExecution of a
    machine then fails with HTTP 500 "cannot pickle '_thread.RLock' object". A clone needs neither: the backend is
    shared state, and the clone only drives the new execution.
    """
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
    """moto 5.2.1's TransactWriteItems backs up every table an action names by deep-copying the whole table, once
    per action, to put it back if the transaction is cancelled. Even copied once per table, every transaction then
    costs a copy of the whole table and its stream records: a replay writing n rows in transactions is quadratic
    (20,000 invocation log records: minutes per thousand records, gigabytes held). Back up only the items the
    actions name instead, and restore those in place when the transaction is cancelled.
    The rollback also left the stream records of the cancelled actions in the stream (a counter ADD that never
    happened reached the evaluator): those are dropped here, as DynamoDB emits none for a cancelled transaction.
    """
    import copy as real_copy

    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    if getattr(dynamodb_models, "copy", None) is not real_copy:
        raise RuntimeError("moto.dynamodb.models no longer uses the copy module; review local/moto_server.py")
    per_thread = threading.local()

    class TablesKeptDuringTransaction:
        """moto.dynamodb.models' copy module, except that a transaction's table backup is the table itself: the
        items it touches are backed up by transact_write_items below, and moto's own rollback is then a no-op."""

        def deepcopy(self, value, memo=None):
            if isinstance(value, Table) and getattr(per_thread, "in_transaction", False):
                return value
            return real_copy.deepcopy(value, memo)

        def __getattr__(self, name):
            return getattr(real_copy, name)

    dynamodb_models.copy = TablesKeptDuringTransaction()
    backend = dynamodb_models.DynamoDBBackend
    original = backend.transact_write_items

    def item_key(table, action):
        """The (hash, range) key an action names, as moto's table keys its items."""
        op_type, op = next(iter(action.items()))
        attributes = op["Item"] if op_type == "Put" else op["Key"]
        hash_value = DynamoType(attributes[table.hash_key_attr])
        range_value = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr is not None else None
        return hash_value, range_value

    def stored(table, key):
        hash_value, range_value = key
        if range_value is None:
            return table.items.get(hash_value)
        partition = table.items.get(hash_value)
        return None if partition is None else partition.get(range_value)

    def table_of(self, action):
        try:
            _, op = next(iter(action.items()))
            return self.tables.get(op["TableName"])
        except Exception:
            return None  # moto refuses such an action before it writes anything

    def back_up(self, transact_items):
        """Per table: each touched item as it is (None when absent), or all its items when an action's key cannot
        be read (moto cancels the transaction then, after applying the actions before it); and its stream's length."""
        backups = {}
        for action in transact_items:
            table = table_of(self, action)
            if table is None:
                continue
            backup = backups.get(table.name)
            if backup is None:
                stream_length = len(table.stream_shard.items) if table.stream_shard is not None else 0
                backup = backups[table.name] = {"table": table, "items": {}, "all": None, "stream": stream_length}
            if backup["all"] is not None:
                continue
            try:
                key = item_key(table, action)
            except Exception:
                backup["all"] = real_copy.deepcopy(table.items)
                continue
            if key not in backup["items"]:
                backup["items"][key] = (real_copy.deepcopy(stored(table, key)), key[0] in table.items)
        return backups

    def restore(backups):
        for backup in backups.values():
            table = backup["table"]
            if backup["all"] is not None:
                table.items = backup["all"]
            else:
                for (hash_value, range_value), (item, partition_existed) in backup["items"].items():
                    if range_value is None:
                        if item is None:
                            table.items.pop(hash_value, None)
                        else:
                            table.items[hash_value] = item
                    elif item is not None:
                        table.items[hash_value][range_value] = item
                    else:
                        partition = table.items.get(hash_value)
                        if partition is not None:
                            partition.pop(range_value, None)
                            if not partition and not partition_existed:
                                del table.items[hash_value]
            if table.stream_shard is not None:
                del table.stream_shard.items[backup["stream"] :]

    def transact_write_items(self, transact_items):
        backups = back_up(self, transact_items)
        per_thread.in_transaction = True
        try:
            return original(self, transact_items)
        except Exception:
            restore(backups)
            raise
        finally:
            per_thread.in_transaction = False

    backend.transact_write_items = transact_write_items


def patch_stream_retention():
    """moto 5.2.1 keeps every DynamoDB stream record for good, and every shard iterator it issued (GetRecords issues
    one per call: a poller idling at 20 calls a second leaves 72,000 an hour). A replay of 20,000 records leaves
    tens of thousands of records with their old and new images, read once by the stream poller and never again.
    Keep a record until every iterator of its shard that has not been used yet is past it (an iterator used again
    after that answers TrimmedDataAccessException, as AWS does past a stream's retention), and an iterator for the
    15 minutes AWS honours one (then ExpiredIteratorException, where moto failed with HTTP 500). A consumer that
    starts at TRIM_HORIZON later starts at the oldest record kept.
    """
    from moto.core.exceptions import JsonRESTError
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator

    lifetime_seconds = 15 * 60
    original_init = ShardIterator.__init__
    original_get_records = DynamoDBStreamsBackend.get_records
    probe = ShardIterator(None, types.SimpleNamespace(starting_sequence_number=1, items=[]), "LATEST")
    if {"sequence_number", "stream_shard"} - set(vars(probe)) or not hasattr(DynamoDBStreamsBackend, "get_records"):
        raise RuntimeError("moto's DynamoDB Streams changed; review local/moto_server.py")

    def unused_iterators(shard):
        """Iterators of the shard issued and not used yet, by ARN: they decide what can be trimmed."""
        if not hasattr(shard, "unused_iterators"):
            shard.unused_iterators = {}
        return shard.unused_iterators

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.issued_at = time.monotonic()
        unused_iterators(self.stream_shard)[self.arn] = self

    def expire(backend):
        # The backend's dict is in the order iterators were issued.
        issued_before = time.monotonic() - lifetime_seconds
        iterators = backend.shard_iterators
        while iterators:
            arn, iterator = next(iter(iterators.items()))
            if getattr(iterator, "issued_at", issued_before) > issued_before:
                break
            del iterators[arn]
            unused_iterators(iterator.stream_shard).pop(arn, None)

    def trim(shard):
        positions = [iterator.sequence_number for iterator in unused_iterators(shard).values()]
        if not positions:
            return
        read = min(min(positions) - shard.starting_sequence_number, len(shard.items))
        if read > 0:
            # Sequence numbers are the starting number plus a record's place in the list: move both together.
            del shard.items[:read]
            shard.starting_sequence_number += read

    def get_records(self, iterator_arn, limit):
        expire(self)
        iterator = self.shard_iterators.get(iterator_arn)
        if iterator is None:
            raise JsonRESTError("ExpiredIteratorException", "Iterator expired or unknown: get a new shard iterator")
        shard = iterator.stream_shard
        if iterator.sequence_number < shard.starting_sequence_number:
            raise JsonRESTError(
                "TrimmedDataAccessException", "The records this iterator points at were read and trimmed"
            )
        unused_iterators(shard).pop(iterator_arn, None)
        result = original_get_records(self, iterator_arn, limit)
        trim(shard)
        return result

    ShardIterator.__init__ = __init__
    DynamoDBStreamsBackend.get_records = get_records


def patch_published_message_history():
    """moto 5.2.1 keeps every message published to an SNS topic (`sent_notifications`, for tests that use its Python
    API). The local run reads messages only through subscriptions, so the history is dropped as it is written."""
    import collections

    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import Topic, sns_backends

    probe = Topic("probe", sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"])
    if not isinstance(getattr(probe, "sent_notifications", None), list):
        raise RuntimeError("moto's SNS Topic has no sent_notifications list; review local/moto_server.py")
    original_init = Topic.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.sent_notifications = collections.deque(maxlen=0)

    Topic.__init__ = __init__


def patch_http_delivery():
    """moto 5.2.1 delivers to an HTTP(S) subscription inside Publish, with a bare requests.post: an endpoint that is
    down or slow fails or stalls the Publish (HTTP 500 to the publisher), where SNS accepts the message and delivers
    it on its own, retrying, never failing the publisher. Here each delivery runs on its own thread, with a timeout,
    its failure logged; the headers SNS sets (message type, id, topic) are added. An https endpoint on loopback is
    this machine's own (a test's chat stand-in): no public CA issues its certificate, so it is not verified.
    """
    import ipaddress
    import json as json_module
    import urllib.parse

    import moto.sns.models as sns_models
    import requests as real_requests
    import urllib3

    if getattr(sns_models, "requests", None) is not real_requests:
        raise RuntimeError("moto.sns.models no longer posts with requests; review local/moto_server.py")
    # Only loopback goes unverified, on purpose: no warning per delivery.
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    def on_loopback(url):
        host = urllib.parse.urlsplit(url).hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def deliver(url, body, headers):
        try:
            verify = not (url.startswith("https:") and on_loopback(url))
            answer = real_requests.post(url, data=body, headers=headers, timeout=15, verify=verify)
            if answer.status_code >= 300:
                print(f"sns: delivery to {url} answered {answer.status_code}", file=sys.stderr)
        except Exception as error:  # SNS would retry; the publisher never hears of it
            print(f"sns: delivery to {url} failed: {error}", file=sys.stderr)

    class DeliveringRequests:
        """moto.sns.models' requests module, except that post delivers in the background, as SNS does."""

        def post(self, url, json=None, headers=None, **_kwargs):
            body = json_module.dumps(json)
            sns_headers = {
                **(headers or {}),
                "x-amz-sns-message-type": str((json or {}).get("Type", "Notification")),
                "x-amz-sns-message-id": str((json or {}).get("MessageId", "")),
                "x-amz-sns-topic-arn": str((json or {}).get("TopicArn", "")),
            }
            threading.Thread(target=deliver, args=(url, body, sns_headers), name="sns-http", daemon=True).start()

        def __getattr__(self, name):
            return getattr(real_requests, name)

    sns_models.requests = DeliveringRequests()


def patch_dynamodb_write_isolation():
    """moto 5.2.1 runs requests on threads but does not isolate DynamoDB writes from each other. TransactWriteItems
    backs up what it touches, applies its actions, and on cancellation puts the backups back: a write another thread
    committed in between would be silently undone (a counter ADD vanishes), and moto's tables are not safe to change
    from two threads at once ("dictionary changed size during iteration"). DynamoDB serializes a transaction against
    other writes to its items; one lock over moto's DynamoDB writes gives the same guarantee here."""
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


def patch_transaction_conflicts():
    """DynamoDB cancels a TransactWriteItems with reason TransactionConflict for each of its items that another
    transaction in progress holds. moto applies one transaction at a time under the write lock, so two never
    overlap and contention cannot be tested. With BUDGETEER_TRANSACTION_MS=n (n > 0) a transaction holds its items
    for n milliseconds before it applies, without the write lock, as DynamoDB's does while it prepares: one that
    names an item held then is cancelled as DynamoDB cancels it (other items' reasons "None"). Writes still apply
    one at a time, so nothing is lost either way. Off by default."""
    hold_seconds = float(os.environ.get("BUDGETEER_TRANSACTION_MS") or 0) / 1000
    if hold_seconds <= 0:
        return
    import json

    from moto.dynamodb.exceptions import TransactionCanceledException
    from moto.dynamodb.models import DynamoDBBackend

    held = set()
    registry = threading.Lock()
    applying = DynamoDBBackend.transact_write_items

    def item_of(self, action):
        """(table, key) of the item an action names; None when moto will refuse the action anyway."""
        try:
            op_type, op = next(iter(action.items()))
            table = self.tables[op["TableName"]]
            attributes = op["Item"] if op_type == "Put" else op["Key"]
            names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
            return table.name, json.dumps([attributes[name] for name in names], sort_keys=True)
        except Exception:
            return None

    def transact_write_items(self, transact_items):
        items = [item_of(self, action) for action in transact_items]
        with registry:
            busy = [item is not None and item in held for item in items]
            if any(busy):
                raise TransactionCanceledException(
                    [("TransactionConflict", "Transaction is ongoing for the item", None) if b else (None, None, None)
                     for b in busy]
                )
            held.update(item for item in items if item is not None)
        try:
            time.sleep(hold_seconds)
        finally:
            with registry:
                held.difference_update(item for item in items if item is not None)
        return applying(self, transact_items)

    DynamoDBBackend.transact_write_items = transact_write_items


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


def patch_update_expression_cost():
    """moto 5.2.1 spends most of a replay's time on UpdateExpressions: an ingest transaction of 100 updates took
    2.3 s, 23 ms an update. Each update is parsed twice (request check, then the update), its syntax tree
    deep-copied for every validation (two for a new item), and walked by ten validators whose every step rebuilds
    the validator's map of node types and tests each node with isinstance on abstract classes; two of the walks
    re-collect every clause below each node of the tree, quadratic in the clauses. Same results, less work:
    - a parsed expression is reused for the same text (nothing changes a parsed tree; validators work on copies);
    - a syntax tree copies itself node by node instead of through the generic deepcopy protocol;
    - a walk reads the validator's map once, and remembers which entry (if any) each node class falls under;
    - the two whole-expression checks (one ADD/SET/REMOVE clause each; no overlapping paths) run on the root only:
      what they would find below it, they find at the root (an error may then name more paths at once).
    """
    import functools

    from moto.dynamodb.parsing import ast_nodes, validators
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    node_class = ast_nodes.Node
    traverser = ast_nodes.DepthFirstTraverser
    root_checks = {
        validators.ActionCountValidator: "verify_action_counts",
        validators.OverlappingPathsValidator: "check_for_overlapping_paths",
    }
    resolver = validators.ExpressionAttributeResolvingProcessor
    expected = [(traverser, "_processing_map"), (traverser, "pre_processing_of_child"), (resolver, "resolving")]
    expected += list(root_checks.items())
    missing = [name for owner, name in expected if owner is not resolver and not hasattr(owner, name)]
    if missing or hasattr(node_class, "__deepcopy__") or not hasattr(UpdateExpressionParser.make, "__func__"):
        raise RuntimeError(f"moto's expression parsing changed ({missing}); review local/moto_server.py")

    UpdateExpressionParser.make = classmethod(functools.lru_cache(maxsize=1024)(UpdateExpressionParser.make.__func__))

    is_node = {}  # class -> whether it is a syntax tree node

    def node_kind(kind):
        if kind not in is_node:
            is_node[kind] = issubclass(kind, node_class)
        return is_node[kind]

    def clone(node, parent, memo):
        copied = object.__new__(type(node))
        memo[id(node)] = copied
        copied.__dict__.update(node.__dict__)
        copied.parent = parent
        if node.children is not None:
            copied.children = [
                clone(child, copied, memo) if node_kind(type(child)) else copy.deepcopy(child, memo)
                for child in node.children
            ]
        return copied

    def node_deepcopy(self, memo):
        if self.parent is None:
            return clone(self, None, memo)
        # Copying a node inside a tree copies the tree, as the generic deepcopy does through `parent`.
        copy.deepcopy(self.parent, memo)
        return memo[id(self)]

    node_class.__deepcopy__ = node_deepcopy

    entries = {}  # validator class -> {node class -> the key of its processing map the class falls under, or None}
    no_pre_processing = traverser.pre_processing_of_child

    def traverse(self, root):
        """DepthFirstTraverser.traverse_node_recursively from the root: children first, then the node itself."""
        check = root_checks.get(type(self))
        if check is not None:
            return getattr(self, check)(root) if node_kind(type(root)) else root
        processing = self._processing_map()
        entry_of = entries.setdefault(type(self), {})
        pre = None if type(self).pre_processing_of_child is no_pre_processing else self.pre_processing_of_child

        def visit(current, child_id):
            parent = current.parent
            if current.children is not None:
                for i, child in enumerate(current.children):
                    if pre is not None:
                        pre(current, i)
                    kind = type(child)
                    if is_node[kind] if kind in is_node else node_kind(kind):
                        visit(child, i)
            kind = type(current)
            if kind not in entry_of:
                entry_of[kind] = next((key for key in processing if issubclass(kind, key)), None)
            key = entry_of[kind]
            if key is None:
                return current
            processed = processing[key](current)
            processed.parent = parent
            if parent:
                parent.children[child_id] = processed
            return processed

        return visit(root, -1) if node_kind(type(root)) else root

    traverser.traverse = traverse

    actions = (
        validators.UpdateExpressionSetAction,
        validators.UpdateExpressionRemoveAction,
        validators.UpdateExpressionDeleteAction,
        validators.UpdateExpressionAddAction,
    )
    is_action = {}

    def pre_processing_of_child(self, parent_node, child_id):
        """Resolve values, not the path an action writes: its first child."""
        kind = type(parent_node)
        if kind not in is_action:
            is_action[kind] = issubclass(kind, actions)
        if is_action[kind]:
            self.resolving = child_id != 0

    resolver.pre_processing_of_child = pre_processing_of_child


def patch_plain_update_expressions():
    """Even with the cuts above, an UpdateExpression costs moto 5.2.1 about 3 ms: copy the syntax tree, ten
    validator walks, an executor walk. Most of a replay's updates are plain, `SET a = :v`, `REMOVE b`, `ADD c :n` on
    top-level attributes (the ingest's charge row: 15 SETs and 2 REMOVEs; a counter: ADDs and SETs), and for those the
    walks come down to a few checks and dict writes. This applies such an expression directly, with the checks moto's
    validators make on it; anything else, and any plain expression one of those checks would refuse (a key attribute,
    a name or value not defined, a reserved word, a path twice, a type mismatch, an empty key value, ADD of a
    non-number), goes through moto's own validator and executor, so moto raises its own error. Values are moto's own
    DynamoType and an ADD uses DynamoType's addition. The item's size limit is checked once, on the item as the update
    leaves it, before anything is written (moto checks on every attribute written, counting a replaced attribute twice,
    and leaves the attributes before the one that failed written; DynamoDB writes nothing).
    """
    import re

    import inspect

    import moto.dynamodb.models as dynamodb_models
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    from moto.dynamodb.parsing.reserved_keywords import ReservedKeywords

    # The limit moto's item dict enforces (LimitedSizeDict.__setitem__), checked here once per update.
    ITEM_SIZE_LIMIT = 405000
    if str(ITEM_SIZE_LIMIT) not in inspect.getsource(LimitedSizeDict.__setitem__):
        raise RuntimeError("moto's item size limit changed; review local/moto_server.py")

    real_validator = dynamodb_models.UpdateExpressionValidator
    real_executor = dynamodb_models.UpdateExpressionExecutor
    from moto.dynamodb.models.table import Table

    if not isinstance(getattr(Table, "attribute_keys", None), property) or not hasattr(
        UpdateExpressionParser.make, "__func__"
    ):
        raise RuntimeError("moto's update expression handling changed; review local/moto_server.py")
    reserved = frozenset(ReservedKeywords.get_reserved_keywords())
    token = re.compile(r"\s*([#:]?[A-Za-z_][A-Za-z0-9_]*|=|,)")
    clauses = {"SET", "REMOVE", "ADD"}

    def plain_plan(text):
        """[(action, name, value placeholder or None)] for a plain expression, else None."""
        tokens, position = [], 0
        while position < len(text):
            match = token.match(text, position)
            if match is None:
                if text[position:].strip():
                    return None
                break
            tokens.append(match.group(1))
            position = match.end()
        plan, seen_clauses, i = [], set(), 0
        while i < len(tokens):
            clause = tokens[i].upper()
            if clause not in clauses or clause in seen_clauses:
                return None
            seen_clauses.add(clause)
            i += 1
            while True:
                name = tokens[i] if i < len(tokens) else ""
                if not name or name[0] == ":" or name in ("=", ",") or name.upper() in clauses | {"DELETE"}:
                    return None
                i += 1
                value = None
                if clause != "REMOVE":
                    if clause == "SET":
                        if i >= len(tokens) or tokens[i] != "=":
                            return None
                        i += 1
                    value = tokens[i] if i < len(tokens) else ""
                    if not value.startswith(":"):
                        return None
                    i += 1
                plan.append((clause, name, value))
                if i < len(tokens) and tokens[i] == ",":
                    i += 1
                    continue
                break
        return plan or None

    cached_make = UpdateExpressionParser.make

    def make(cls, expression):
        tree = cached_make(expression)
        # The tree is the cached one: its plan is computed once.
        if "budgeteer_plan" not in tree.__dict__:
            tree.budgeteer_plan = plain_plan(expression)
        return tree

    UpdateExpressionParser.make = classmethod(make)

    class PlainUpdate:
        def __init__(self, actions):
            self.actions = actions

        def normalize(self):
            pass

    class Refused(Exception):
        """moto's validator decides this one."""

    def resolve(plan, names, values, item, table):
        actions, written = [], set()
        for clause, name, placeholder in plan:
            if name[0] == "#":
                attribute = (names or {}).get(name)
                if attribute is None:
                    raise Refused
            elif name.upper() in reserved:
                raise Refused
            else:
                attribute = name
            if attribute in written or attribute in table.table_key_attrs:
                raise Refused
            written.add(attribute)
            value = None
            if placeholder is not None:
                raw = (values or {}).get(placeholder)
                if raw is None:
                    raise Refused
                value = DynamoType(raw)
                if clause == "SET":
                    if any(d["AttributeName"] == attribute and d["AttributeType"] != value.type for d in table.attr):
                        raise Refused
                    if not value.value and value.type in ("S", "B") and attribute in table.attribute_keys:
                        raise Refused
                elif value.type != "N":
                    raise Refused
                else:
                    current = item.attrs.get(attribute)
                    if current is not None and current.type != "N":
                        raise Refused
            actions.append((clause, attribute, value))
        return PlainUpdate(actions)

    class UpdateExpressionValidator:
        def __init__(self, tree, expression_attribute_names, expression_attribute_values, item, table):
            self.arguments = (tree, expression_attribute_names, expression_attribute_values, item, table)

        def validate(self):
            tree, names, values, item, table = self.arguments
            plan = tree.__dict__.get("budgeteer_plan")
            if plan is not None:
                try:
                    return resolve(plan, names, values, item, table)
                except Refused:
                    pass
            return real_validator(
                tree,
                expression_attribute_names=names,
                expression_attribute_values=values,
                item=item,
                table=table,
            ).validate()

    class UpdateExpressionExecutor:
        def __init__(self, validated, item, expression_attribute_names):
            self.arguments = (validated, item, expression_attribute_names)

        def execute(self):
            validated, item, names = self.arguments
            if not isinstance(validated, PlainUpdate):
                return real_executor(validated, item, names).execute()
            # The item's dict sums the size of the whole item on every write (17 writes, 17 sums for a charge row):
            # the new attributes are computed first, the size checked once, then written.
            written = {}
            for clause, attribute, value in validated.actions:
                if clause == "SET":
                    written[attribute] = value
                elif clause == "REMOVE":
                    written[attribute] = None
                else:
                    current = written[attribute] if attribute in written else item.attrs.get(attribute)
                    written[attribute] = (current if current is not None else DynamoType({"N": "0"})) + value
            after = {**item.attrs, **written}
            size = sum(bytesize(name) + value.size() for name, value in after.items() if value is not None)
            if size > ITEM_SIZE_LIMIT:
                raise ItemSizeTooLarge
            for attribute, value in written.items():
                if value is None:
                    item.attrs.pop(attribute, None)
                else:
                    dict.__setitem__(item.attrs, attribute, value)
            return None

    dynamodb_models.UpdateExpressionValidator = UpdateExpressionValidator
    dynamodb_models.UpdateExpressionExecutor = UpdateExpressionExecutor


def patch_condition_lexing():
    """moto 5.2.1 lexes a ConditionExpression (or a filter) on every request that has one, compiling a list of regular
    expressions for each token: the ingest's `attribute_not_exists(costUsd)` on every charge row. The tokens depend on
    the text alone (names and values are looked up after lexing, and nothing changes a token), so each text is lexed
    once; each request gets a new queue of the same tokens."""
    from collections import deque

    from moto.dynamodb.comparisons import ConditionExpressionParser

    if not hasattr(ConditionExpressionParser, "_lex_condition_expression"):
        raise RuntimeError("moto's condition expression parser changed; review local/moto_server.py")
    original = ConditionExpressionParser._lex_condition_expression
    lexed = {}

    def _lex_condition_expression(self):
        text = self.condition_expression
        tokens = lexed.get(text)
        if tokens is None:
            tokens = tuple(original(self))
            if len(lexed) < 4096:
                lexed[text] = tokens
        return deque(tokens)

    ConditionExpressionParser._lex_condition_expression = _lex_condition_expression


def patch_response_cost():
    """moto 5.2.1 answers every JSON request through a serializer driven by the service's model: for each member
    of each structure it tries several spellings of the member's name on the Python object. A DynamoDB attribute
    value is a structure of ten members, so an item of a dozen attributes costs a millisecond or more to write out,
    and a stream page of 100 records with old and new images 50 ms (GetItem: 2.4 ms a call, mostly this). An
    attribute value moto keeps is already in its wire form ({"S": "..."}, {"M": {...}}): written out as it is, unless
    it holds something that needs encoding (binary), which goes the general way. Each request also listed the
    handler class's methods through inspect; a class's methods do not change, so that is done once per class.
    """
    import functools

    import moto.core.responses as core_responses
    from moto.core.serialize import BaseJSONSerializer

    if not hasattr(BaseJSONSerializer, "_serialize_type_structure") or not callable(
        getattr(core_responses, "method_names_from_class", None)
    ):
        raise RuntimeError("moto's response serialization changed; review local/moto_server.py")

    class NotPlain(Exception):
        pass

    def wire(value):
        """An attribute value in its wire form, built anew; NotPlain when it is not plain JSON data."""
        if type(value) is not dict or len(value) != 1:
            raise NotPlain
        ((kind, inner),) = value.items()
        if kind in ("S", "N") and type(inner) is str:
            return {kind: inner}
        if kind in ("BOOL", "NULL") and type(inner) is bool:
            return {kind: inner}
        if kind in ("SS", "NS") and type(inner) is list and all(type(x) is str for x in inner):
            return {kind: list(inner)}
        if kind == "M" and type(inner) is dict:
            return {"M": {name: wire(member) for name, member in inner.items()}}
        if kind == "L" and type(inner) is list:
            return {"L": [wire(member) for member in inner]}
        raise NotPlain

    serialize_structure = BaseJSONSerializer._serialize_type_structure

    def _serialize_type_structure(self, serialized, value, shape, key):
        if key and shape.name == "AttributeValue":
            try:
                self._default_serialize(serialized, wire(value), shape, key)
                return
            except NotPlain:
                pass
        serialize_structure(self, serialized, value, shape, key)

    BaseJSONSerializer._serialize_type_structure = _serialize_type_structure
    core_responses.method_names_from_class = functools.lru_cache(maxsize=None)(core_responses.method_names_from_class)


def patch_request_overhead():
    """Two costs moto 5.2.1's server pays on every request, a third of its time in a replay (it serves one request
    at a time in effect: Python runs one thread at once, and its dispatcher holds a lock). Finding the service of a
    request lists moto's package folder and checks each of its 200 entries for being a folder, under that lock; the
    list never changes while the server runs, so it is read once. And werkzeug writes an access log line per request,
    through colorama, to a pipe the launcher discards unless asked to show moto's output; errors are still logged.
    """
    from moto import backends
    from werkzeug.serving import WSGIRequestHandler

    if not callable(getattr(backends, "list_of_moto_modules", None)) or not hasattr(WSGIRequestHandler, "log_request"):
        raise RuntimeError("moto's request dispatch changed; review local/moto_server.py")
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules
    WSGIRequestHandler.log_request = lambda self, code="-", size="-": None


def patch_keep_alive_server():
    """moto 5.2.1 serves through werkzeug 3's development server, which closes the connection after every response
    (it sends `Connection: close` and then waits up to 10 ms for the client to hang up). Every request then costs a
    TCP connection on both sides and a new thread here: a replay's tens of thousands of requests spent a fifth of
    moto's time and a tenth of Node's on connections. This serves moto's WSGI application with HTTP/1.1 keep-alive
    instead (the standard library's HTTP server, a thread per connection, each response written whole in one send with
    Nagle's algorithm off); the application, its routing and its answers are moto's, unchanged.
    """
    import http.server
    import io
    import socketserver
    from urllib.parse import unquote_to_bytes

    import moto.server

    if not callable(getattr(moto.server, "run_simple", None)):
        raise RuntimeError("moto's server no longer starts through werkzeug's run_simple; review local/moto_server.py")

    def read_chunked(stream):
        body = bytearray()
        while True:
            size = int(stream.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while stream.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(body)
            body += stream.read(size)
            stream.readline()

    def serve(hostname, port, application, **_options):
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True
            # An idle kept-alive connection is closed after this long; clients open a new one.
            timeout = 300

            def handle_one_request(self):
                try:
                    self.raw_requestline = self.rfile.readline(65537)
                    if not self.raw_requestline or len(self.raw_requestline) > 65536:
                        self.close_connection = True
                        return
                    if not self.parse_request():
                        return
                    self.answer()
                except (ConnectionError, TimeoutError):
                    self.close_connection = True

            def answer(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = read_chunked(self.rfile)
                else:
                    length = int(self.headers.get("Content-Length") or 0)
                    body = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                environ = {
                    "REQUEST_METHOD": self.command,
                    "SCRIPT_NAME": "",
                    "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
                    "QUERY_STRING": query,
                    "REQUEST_URI": self.path,
                    "RAW_URI": self.path,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "SERVER_NAME": hostname,
                    "SERVER_PORT": str(port),
                    "SERVER_PROTOCOL": self.request_version,
                    "REMOTE_ADDR": self.client_address[0],
                    "REMOTE_PORT": self.client_address[1],
                    "wsgi.version": (1, 0),
                    "wsgi.url_scheme": "http",
                    "wsgi.input": io.BytesIO(body),
                    "wsgi.errors": sys.stderr,
                    "wsgi.multithread": True,
                    "wsgi.multiprocess": False,
                    "wsgi.run_once": False,
                }
                for name, value in self.headers.items():
                    key = "HTTP_" + name.upper().replace("-", "_")
                    if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                        continue
                    environ[key] = f"{environ[key]},{value}" if key in environ else value
                started = []
                chunks = []

                def start_response(status, headers, exc_info=None):
                    started[:] = [status, headers]
                    return chunks.append

                result = application(environ, start_response)
                try:
                    chunks.extend(result)
                finally:
                    if hasattr(result, "close"):
                        result.close()
                status, headers = started
                code, _, reason = status.partition(" ")
                payload = b"".join(chunks)
                self.send_response(int(code), reason)
                for name, value in headers:
                    if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(name, value)
                bodiless = self.command == "HEAD" or int(code) in (204, 304) or 100 <= int(code) < 200
                if not bodiless:
                    self.send_header("Content-Length", str(len(payload)))
                if self.close_connection:
                    self.send_header("Connection", "close")
                # Headers and body in one send.
                self._headers_buffer.append(b"\r\n")
                if not bodiless:
                    self._headers_buffer.append(payload)
                self.flush_headers()

            def log_message(self, format, *args):
                pass

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        with Server((hostname, port), Handler) as server:
            server.serve_forever()

    moto.server.run_simple = serve


def patch_request_id():
    """moto 5.2.1 gives every answer a 52-character request id drawn one character at a time with
    random.choice: half a millisecond a request, a tenth of what a GetItem costs it. The same length, drawn from moto's
    own random source (so seeding it through /moto-api still makes runs repeat) in one call."""
    import base64

    import moto.core.responses as core_responses
    import moto.utilities.aws_headers as aws_headers
    from moto.moto_api._internal import mock_random

    if not callable(getattr(core_responses, "gen_amzn_requestid_long", None)):
        raise RuntimeError("moto's request ids changed; review local/moto_server.py")

    def gen_amzn_requestid_long(headerdict=None):
        request_id = base64.b32encode(mock_random.getrandbits(260).to_bytes(33, "little")).decode("ascii")[:52]
        if isinstance(headerdict, dict):
            headerdict.update({"x-amzn-requestid": request_id})
        return request_id

    # BaseResponse imported it by name; the module's own name is kept in step.
    core_responses.gen_amzn_requestid_long = gen_amzn_requestid_long
    aws_headers.gen_amzn_requestid_long = gen_amzn_requestid_long


def patch_fixed_account_ids():
    """moto 5.2.1's Organizations CreateAccount draws every new account id at random (FakeAccount.__init__ calls
    utils.make_random_account_id), and AWS's API has no way to ask for an id. The local organization needs fixed
    ones: the budget account must be the local stack's own (123456789012, moto's default account, where its
    handlers' keys land) and the member accounts' ids are named in scenarios, budgets and tests. So a CreateAccount
    whose Tags hold FIXED_ACCOUNT_ID_TAG gets that id: the draw is overridden for that call only (per thread), and
    everything CreateAccount does with the id (the account's OrganizationAccountAccessRole in its IAM, the
    account's entry among the organization's members) uses it. The tag stays on the account, visible in
    ListTagsForResource, so what was fixed can be seen. Without the tag, CreateAccount is unchanged.
    """
    import re

    import moto.organizations.models as organizations_models
    from moto.organizations import utils as organizations_utils
    from moto.organizations.exceptions import InvalidInputException

    backend = organizations_models.OrganizationsBackend
    if not callable(getattr(organizations_utils, "make_random_account_id", None)) or not callable(
        getattr(backend, "create_account", None)
    ):
        raise RuntimeError("moto's Organizations CreateAccount changed; review local/moto_server.py")
    per_thread = threading.local()
    random_account_id = organizations_utils.make_random_account_id

    def make_account_id():
        fixed = getattr(per_thread, "account_id", None)
        return fixed if fixed is not None else random_account_id()

    create_account = backend.create_account

    def create_account_with_fixed_id(self, **kwargs):
        tags = kwargs.get("Tags") or []
        wanted = next((tag.get("Value") for tag in tags if tag.get("Key") == FIXED_ACCOUNT_ID_TAG), None)
        if wanted is None:
            return create_account(self, **kwargs)
        if not re.fullmatch(r"[0-9]{12}", wanted or ""):
            raise InvalidInputException(f"{FIXED_ACCOUNT_ID_TAG} must be 12 digits, not {wanted!r}")
        if wanted == self.account_id or any(account.id == wanted for account in self.accounts):
            raise InvalidInputException(f"account {wanted} is already in the organization")
        per_thread.account_id = wanted
        try:
            return create_account(self, **kwargs)
        finally:
            per_thread.account_id = None

    organizations_utils.make_random_account_id = make_account_id
    backend.create_account = create_account_with_fixed_id


FIXED_ACCOUNT_ID_TAG = "budgeteer:local-account-id"


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
    # moto adds CORS headers to every answer (flask-cors, three quarters of a millisecond a request); nothing that
    # calls the local AWS is a browser page of another origin. Read by moto.settings when moto is first imported.
    os.environ.setdefault("MOTO_DISABLE_GLOBAL_CORS", "true")
    try:
        import moto.server
    except ImportError as error:
        print(f"moto server is not available to {sys.executable} ({error}); {INSTALL_HINT}", file=sys.stderr)
        return 3
    patch_state_machine_deepcopy()
    patch_transaction_backup()
    # Before the write isolation, which then serializes trimming with the transactions that truncate streams.
    patch_stream_retention()
    patch_dynamodb_write_isolation()
    # After the isolation: a transaction holds its items without holding the write lock.
    patch_transaction_conflicts()
    patch_published_message_history()
    patch_http_delivery()
    patch_sqs_retention_check()
    patch_request_overhead()
    patch_keep_alive_server()
    patch_request_id()
    patch_update_expression_cost()
    # After the cost cuts: it wraps their cached parser, and their validator serves what is not plain.
    patch_plain_update_expressions()
    patch_condition_lexing()
    patch_response_cost()
    patch_fixed_account_ids()
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
