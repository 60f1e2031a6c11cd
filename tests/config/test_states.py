"""Tests of the unified state tree and the StateSignifier."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykarabo.states import MiddlelayerStateSignifier, State, StateSignifier

states = st.sampled_from(list(State))
state_lists = st.lists(states, min_size=1, max_size=8)

# The tree as documented for Karabo 3.1 (spec section 2): base state -> children.
EXPECTED_CHILDREN = {
    None: {"UNKNOWN", "INIT", "KNOWN"},
    "KNOWN": {"ERROR", "DISABLED", "NORMAL"},
    "DISABLED": {"INTERLOCKED", "PAUSED", "INTERLOCK_BROKEN"},
    "NORMAL": {"STATIC", "CHANGING", "RUNNING"},
    "STATIC": {"INTERLOCK_OK", "PASSIVE", "ACTIVE"},
    "PASSIVE": set("WARM COLD PRESSURIZED CLOSED OFF INSERTED STOPPED UNLOCKED DISENGAGED IGNORING".split()),
    "ACTIVE": set("COOLED HEATED EVACUATED OPENED ON EXTRACTED STARTED LOCKED ENGAGED MONITORING".split()),
    "CHANGING": set("HOMING ROTATING MOVING SWITCHING OPENING CLOSING SEARCHING INCREASING DECREASING".split()),
    "INCREASING": set(
        "HEATING MOVING_RIGHT MOVING_UP MOVING_FORWARD ROTATING_CLK RAMPING_UP INSERTING STARTING "
        "FILLING ENGAGING SWITCHING_ON".split()
    ),
    "DECREASING": set(
        "COOLING MOVING_LEFT MOVING_DOWN MOVING_BACK ROTATING_CNTCLK RAMPING_DOWN EXTRACTING STOPPING "
        "EMPTYING DISENGAGING SWITCHING_OFF".split()
    ),
    "RUNNING": {"ACQUIRING", "PROCESSING"},
}


def test_tree_matches_karabo():
    assert len(State) == 68
    actual: dict = {}
    for state in State:
        parent = None if state.parent is None else state.parent.name
        actual.setdefault(parent, set()).add(state.name)
    assert actual == EXPECTED_CHILDREN


def test_values_are_names_and_strings():
    for state in State:
        assert state.value == state.name
        assert state == state.name
        assert str(state) == state.name
        assert State(state.name) is state
        assert State.fromString(state.name) is state


def test_unknown_state_name_is_rejected():
    with pytest.raises(ValueError):
        State("SLEEPING")


@pytest.mark.parametrize(
    ("state", "base", "expected"),
    [
        (State.MOVING, State.CHANGING, True),
        (State.MOVING_LEFT, State.DECREASING, True),
        (State.MOVING_LEFT, State.INCREASING, False),
        (State.ON, State.ACTIVE, True),
        (State.ON, State.PASSIVE, False),
        (State.INTERLOCKED, State.DISABLED, True),
        (State.ERROR, State.NORMAL, False),
        (State.UNKNOWN, State.KNOWN, False),
        (State.ACQUIRING, "RUNNING", True),
    ],
)
def test_isDerivedFrom_examples(state, base, expected):
    assert state.isDerivedFrom(base) is expected


@given(states)
def test_every_state_derives_from_itself_and_its_root(state):
    assert state.isDerivedFrom(state)
    root = state
    while root.parent is not None:
        root = root.parent
    assert root in (State.UNKNOWN, State.INIT, State.KNOWN)
    assert state.isDerivedFrom(root)


@given(states, states, states)
def test_isDerivedFrom_is_transitive(a, b, c):
    if a.isDerivedFrom(b) and b.isDerivedFrom(c):
        assert a.isDerivedFrom(c)


@given(states, states)
def test_isDerivedFrom_is_antisymmetric(a, b):
    if a.isDerivedFrom(b) and b.isDerivedFrom(a):
        assert a is b


@given(states)
def test_isDerivedFrom_means_ancestor_or_self(state):
    ancestors = set()
    node = state
    while node is not None:
        ancestors.add(node)
        node = node.parent
    assert {other for other in State if state.isDerivedFrom(other)} == ancestors


# E2E results recorded against Karabo 3.1.2 (identical in bound and middlelayer).
DEFAULT_CASES = [
    ([State.ERROR, State.MOVING, State.CHANGING], State.ERROR),
    ([State.ON, State.OFF], State.OFF),
    ([State.MOVING, State.ON], State.MOVING),
    ([State.ACQUIRING, State.ON], State.ACQUIRING),
    ([State.PAUSED, State.ACQUIRING], State.PAUSED),
    ([State.DISABLED, State.ON], State.ON),
    ([State.INTERLOCKED, State.MOVING], State.INTERLOCKED),
    ([State.INIT, State.ERROR], State.INIT),
    ([State.UNKNOWN, State.INIT], State.UNKNOWN),
    ([State.MOVING_LEFT, State.MOVING_RIGHT], State.MOVING_LEFT),
]


@pytest.mark.parametrize(("given_states", "expected"), DEFAULT_CASES)
def test_default_signifier(given_states, expected):
    signifier = StateSignifier()
    assert signifier.returnMostSignificant(given_states) is expected
    assert signifier.returnMostSignificant(list(reversed(given_states))) is expected


def test_signifier_options_swap_siblings():
    signifier = StateSignifier(staticMoreSignificant=State.ACTIVE, changingMoreSignificant=State.INCREASING)
    assert signifier.returnMostSignificant([State.ON, State.OFF]) is State.ON
    assert signifier.returnMostSignificant([State.MOVING_LEFT, State.MOVING_RIGHT]) is State.MOVING_RIGHT


def test_default_trump_list():
    assert StateSignifier().getTrumpList() == [
        State.DISABLED,
        State.STATIC,
        State.ACTIVE,
        State.PASSIVE,
        State.RUNNING,
        State.PAUSED,
        State.CHANGING,
        State.INCREASING,
        State.DECREASING,
        State.INTERLOCKED,
        State.ERROR,
        State.INIT,
        State.UNKNOWN,
    ]


def test_ties_go_to_the_last_state_like_bound():
    signifier = StateSignifier()
    assert signifier.returnMostSignificant([State.RAMPING_DOWN, State.COOLING]) is State.COOLING
    assert signifier.returnMostSignificant([State.COOLING, State.RAMPING_DOWN]) is State.RAMPING_DOWN
    assert signifier.returnMostSignificant([State.MOVING, State.INCREASING]) is State.INCREASING
    # KNOWN and NORMAL have no listed ancestor and rank lowest.
    assert signifier.rankedAt(State.KNOWN) == signifier.rankedAt(State.NORMAL) == 0
    assert signifier.returnMostSignificant([State.KNOWN, State.DISABLED]) is State.DISABLED


def test_custom_trump_list_is_completed_like_karabo():
    assert StateSignifier([State.CHANGING]).getTrumpList() == [State.INCREASING, State.DECREASING, State.CHANGING]
    assert StateSignifier([State.STATIC], staticMoreSignificant=State.ACTIVE).getTrumpList() == [
        State.PASSIVE,
        State.ACTIVE,
        State.STATIC,
    ]
    assert StateSignifier([State.KNOWN]).getTrumpList() == [
        State.DISABLED,
        State.ACTIVE,
        State.PASSIVE,
        State.STATIC,
        State.INCREASING,
        State.DECREASING,
        State.PAUSED,
        State.RUNNING,
        State.CHANGING,
        State.INTERLOCKED,
        State.ERROR,
        State.KNOWN,
    ]
    custom = StateSignifier([State.ERROR, State.ACTIVE])
    assert custom.returnMostSignificant([State.ERROR, State.ON]) is State.ON
    assert custom.returnMostSignificant([State.MOVING, State.ERROR]) is State.ERROR


def test_signifier_rejects_bad_input():
    with pytest.raises(ValueError, match="Empty list"):
        StateSignifier().returnMostSignificant([])
    with pytest.raises(ValueError):
        StateSignifier(staticMoreSignificant=State.CHANGING)
    with pytest.raises(ValueError):
        StateSignifier(changingMoreSignificant=State.ON)


def test_signifier_accepts_state_names():
    assert StateSignifier().returnMostSignificant(["ON", "MOVING"]) is State.MOVING


signifiers = st.builds(
    StateSignifier,
    trumplist=st.one_of(st.just(()), st.lists(states, max_size=6)),
    staticMoreSignificant=st.sampled_from([State.PASSIVE, State.ACTIVE]),
    changingMoreSignificant=st.sampled_from([State.DECREASING, State.INCREASING]),
)


@given(signifiers, state_lists)
def test_result_is_an_input_of_maximal_rank(signifier, given_states):
    result = signifier.returnMostSignificant(given_states)
    assert result in given_states
    assert signifier.rankedAt(result) == max(signifier.rankedAt(s) for s in given_states)


@given(signifiers, state_lists, st.randoms())
def test_rank_of_result_is_order_independent(signifier, given_states, rnd):
    shuffled = list(given_states)
    rnd.shuffle(shuffled)
    assert signifier.rankedAt(signifier.returnMostSignificant(shuffled)) == signifier.rankedAt(
        signifier.returnMostSignificant(given_states)
    )


@given(signifiers, state_lists)
def test_signifier_is_idempotent(signifier, given_states):
    result = signifier.returnMostSignificant(given_states)
    assert signifier.returnMostSignificant([result]) is result
    assert signifier.returnMostSignificant(given_states + [result]) is result


@given(signifiers, state_lists, state_lists)
def test_signifier_is_associative_in_rank(signifier, first, second):
    combined = signifier.returnMostSignificant(first + second)
    nested = signifier.returnMostSignificant(
        [signifier.returnMostSignificant(first), signifier.returnMostSignificant(second)]
    )
    assert signifier.rankedAt(combined) == signifier.rankedAt(nested)


@given(signifiers, states)
def test_descendants_never_outrank_their_listed_base(signifier, state):
    # A state ranks like its nearest listed ancestor, so a base state that is listed
    # determines the rank of every descendant without its own entry.
    trumps = signifier.getTrumpList()
    if state not in trumps and state.parent is not None:
        assert signifier.rankedAt(state) == signifier.rankedAt(state.parent)


@pytest.mark.parametrize(
    ("given_states", "options", "bound", "middlelayer"),
    [
        (["MOVING", "INCREASING"], {}, "INCREASING", "MOVING"),
        (["RAMPING_DOWN", "COOLING"], {}, "COOLING", "COOLING"),
        (["COOLING", "RAMPING_DOWN"], {}, "RAMPING_DOWN", "COOLING"),
        (["NORMAL", "COOLED"], {"changingMoreSignificant": State.INCREASING}, "COOLED", "NORMAL"),
        (["ON", "OFF"], {}, "OFF", "OFF"),
    ],
)
def test_bound_and_middlelayer_orderings_differ_as_documented(given_states, options, bound, middlelayer):
    assert StateSignifier(**options).returnMostSignificant(given_states) == bound
    assert MiddlelayerStateSignifier(**options).returnMostSignificant(given_states) == middlelayer


def test_middlelayer_ranks_are_unique():
    signifier = MiddlelayerStateSignifier([State.ON, State.ERROR])
    ranks = [signifier.rankedAt(s) for s in State]
    assert sorted(ranks) == list(range(1, len(State) + 1))
    assert signifier.getTrumpList()[-2:] == [State.ON, State.ERROR]
