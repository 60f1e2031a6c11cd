"""Karabo 3 unified states: the :class:`State` tree and the signifiers that combine states.

Karabo has two implementations of the most-significant-state rule, which agree on all common cases
but not on ties:

* C++/bound (:class:`StateSignifier`): states rank like their nearest ancestor in a short trump
  list, so states of equal rank tie, and the *last* of the tied states given wins
  (``[MOVING, INCREASING]`` gives INCREASING).
* middlelayer (:class:`MiddlelayerStateSignifier`): every state gets a rank of its own, ordered
  by the trump list and then by the order in which karabo.common declares the states, so the
  input order never matters (``[MOVING, INCREASING]`` gives MOVING, ``[RAMPING_DOWN, COOLING]``
  gives COOLING either way).  Base states no list covers (KNOWN, NORMAL, ...) rank lowest in
  C++ but by declaration order in the middlelayer (``[NORMAL, COOLED]`` gives NORMAL there with
  ``changingMoreSignificant=INCREASING``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum

__all__ = ["MiddlelayerStateSignifier", "State", "StateSignifier"]


class State(StrEnum):
    """A unified device state; the value is the state's name and every state knows its ``parent``."""

    # Members are declared in pre-order of the state tree (see _PARENT_NAMES).
    UNKNOWN = "UNKNOWN"
    INIT = "INIT"
    KNOWN = "KNOWN"
    ERROR = "ERROR"
    DISABLED = "DISABLED"
    INTERLOCKED = "INTERLOCKED"
    PAUSED = "PAUSED"
    INTERLOCK_BROKEN = "INTERLOCK_BROKEN"
    NORMAL = "NORMAL"
    STATIC = "STATIC"
    INTERLOCK_OK = "INTERLOCK_OK"
    PASSIVE = "PASSIVE"
    WARM = "WARM"
    COLD = "COLD"
    PRESSURIZED = "PRESSURIZED"
    CLOSED = "CLOSED"
    OFF = "OFF"
    INSERTED = "INSERTED"
    STOPPED = "STOPPED"
    UNLOCKED = "UNLOCKED"
    DISENGAGED = "DISENGAGED"
    IGNORING = "IGNORING"
    ACTIVE = "ACTIVE"
    COOLED = "COOLED"
    HEATED = "HEATED"
    EVACUATED = "EVACUATED"
    OPENED = "OPENED"
    ON = "ON"
    EXTRACTED = "EXTRACTED"
    STARTED = "STARTED"
    LOCKED = "LOCKED"
    ENGAGED = "ENGAGED"
    MONITORING = "MONITORING"
    CHANGING = "CHANGING"
    HOMING = "HOMING"
    ROTATING = "ROTATING"
    MOVING = "MOVING"
    SWITCHING = "SWITCHING"
    OPENING = "OPENING"
    CLOSING = "CLOSING"
    SEARCHING = "SEARCHING"
    INCREASING = "INCREASING"
    HEATING = "HEATING"
    MOVING_RIGHT = "MOVING_RIGHT"
    MOVING_UP = "MOVING_UP"
    MOVING_FORWARD = "MOVING_FORWARD"
    ROTATING_CLK = "ROTATING_CLK"
    RAMPING_UP = "RAMPING_UP"
    INSERTING = "INSERTING"
    STARTING = "STARTING"
    FILLING = "FILLING"
    ENGAGING = "ENGAGING"
    SWITCHING_ON = "SWITCHING_ON"
    DECREASING = "DECREASING"
    COOLING = "COOLING"
    MOVING_LEFT = "MOVING_LEFT"
    MOVING_DOWN = "MOVING_DOWN"
    MOVING_BACK = "MOVING_BACK"
    ROTATING_CNTCLK = "ROTATING_CNTCLK"
    RAMPING_DOWN = "RAMPING_DOWN"
    EXTRACTING = "EXTRACTING"
    STOPPING = "STOPPING"
    EMPTYING = "EMPTYING"
    DISENGAGING = "DISENGAGING"
    SWITCHING_OFF = "SWITCHING_OFF"
    RUNNING = "RUNNING"
    ACQUIRING = "ACQUIRING"
    PROCESSING = "PROCESSING"

    @property
    def parent(self) -> State | None:
        """The base state this state derives from, or None for the roots UNKNOWN, INIT and KNOWN."""
        return _PARENTS[self]

    def isDerivedFrom(self, other: State | str) -> bool:
        """Return True if ``other`` is this state or one of its ancestors."""
        other = State(other)
        state: State | None = self
        while state is not None:
            if state is other:
                return True
            state = state.parent
        return False

    @classmethod
    def fromString(cls, name: str) -> State:
        """Return the state called ``name`` (same as ``State(name)``)."""
        return cls(name)


# Children of each base state; every state not listed as a child is a root.
_CHILD_NAMES: dict[str, str] = {
    "KNOWN": "ERROR DISABLED NORMAL",
    "DISABLED": "INTERLOCKED PAUSED INTERLOCK_BROKEN",
    "NORMAL": "STATIC CHANGING RUNNING",
    "STATIC": "INTERLOCK_OK PASSIVE ACTIVE",
    "PASSIVE": "WARM COLD PRESSURIZED CLOSED OFF INSERTED STOPPED UNLOCKED DISENGAGED IGNORING",
    "ACTIVE": "COOLED HEATED EVACUATED OPENED ON EXTRACTED STARTED LOCKED ENGAGED MONITORING",
    "CHANGING": "HOMING ROTATING MOVING SWITCHING OPENING CLOSING SEARCHING INCREASING DECREASING",
    "INCREASING": (
        "HEATING MOVING_RIGHT MOVING_UP MOVING_FORWARD ROTATING_CLK RAMPING_UP "
        "INSERTING STARTING FILLING ENGAGING SWITCHING_ON"
    ),
    "DECREASING": (
        "COOLING MOVING_LEFT MOVING_DOWN MOVING_BACK ROTATING_CNTCLK RAMPING_DOWN "
        "EXTRACTING STOPPING EMPTYING DISENGAGING SWITCHING_OFF"
    ),
    "RUNNING": "ACQUIRING PROCESSING",
}

_PARENTS: dict[State, State | None] = dict.fromkeys(State)
for _base, _children in _CHILD_NAMES.items():
    for _child in _children.split():
        _PARENTS[State(_child)] = State(_base)
del _base, _children, _child


def _default_trump_list(staticMoreSignificant: State, changingMoreSignificant: State) -> list[State]:
    """Return Karabo's default significance order (least significant first) for the given options."""
    static = [State.ACTIVE, State.PASSIVE]
    if staticMoreSignificant is State.ACTIVE:
        static.reverse()
    changing = [State.INCREASING, State.DECREASING]
    if changingMoreSignificant is State.INCREASING:
        changing.reverse()
    return [
        State.DISABLED,
        State.STATIC,
        *static,
        State.RUNNING,
        State.PAUSED,
        State.CHANGING,
        *changing,
        State.INTERLOCKED,
        State.ERROR,
        State.INIT,
        State.UNKNOWN,
    ]


class StateSignifier:
    """Picks the most significant of several states, e.g. to derive a device state from its parts.

    ``trumplist`` orders states from least to most significant; a state ranks like its nearest
    ancestor in the list and states without a listed ancestor rank lowest. An empty list selects
    Karabo's default order::

        DISABLED < STATIC < ACTIVE < PASSIVE < RUNNING < PAUSED < CHANGING < INCREASING
        < DECREASING < INTERLOCKED < ERROR < INIT < UNKNOWN

    ``staticMoreSignificant`` (PASSIVE or ACTIVE) and ``changingMoreSignificant`` (DECREASING or
    INCREASING) choose which sibling wins. A custom list is completed the way Karabo (C++/bound)
    completes it, e.g. listing CHANGING alone inserts INCREASING and DECREASING right below it.
    Among equally significant states the last one given wins, as in the C++/bound implementation.
    """

    def __init__(
        self,
        trumplist: Iterable[State | str] = (),
        staticMoreSignificant: State | str = State.PASSIVE,
        changingMoreSignificant: State | str = State.DECREASING,
    ) -> None:
        """Build the significance order from ``trumplist`` and the two tie options."""
        static = State(staticMoreSignificant)
        changing = State(changingMoreSignificant)
        if static not in (State.PASSIVE, State.ACTIVE):
            raise ValueError(f"staticMoreSignificant must be PASSIVE or ACTIVE, not {static}")
        if changing not in (State.DECREASING, State.INCREASING):
            raise ValueError(f"changingMoreSignificant must be DECREASING or INCREASING, not {changing}")
        trumps = [State(state) for state in trumplist]
        if trumps:
            _complete_trump_list(trumps, static, changing)
        else:
            trumps = _default_trump_list(static, changing)
        self._trump_list = trumps
        self._ranks = {state: self._rank_of(state) for state in State}

    def getTrumpList(self) -> list[State]:
        """Return the (completed) significance order, least significant first."""
        return list(self._trump_list)

    def rankedAt(self, state: State | str) -> int:
        """Return the significance of ``state``: 0 if unranked, else 1 + position of its nearest listed ancestor."""
        return self._ranks[State(state)]

    def returnMostSignificant(self, states: Iterable[State | str]) -> State:
        """Return the most significant of ``states``; ties go to the last one given."""
        best: State | None = None
        best_rank = -1
        for item in states:
            state = State(item)
            rank = self._ranks[state]
            if rank >= best_rank:
                best, best_rank = state, rank
        if best is None:
            raise ValueError("Empty list of states in StateSignifier.returnMostSignificant")
        return best

    def _rank_of(self, state: State) -> int:
        """Compute the rank of ``state`` from the trump list (used once per state at construction)."""
        ancestor: State | None = state
        while ancestor is not None:
            if ancestor in self._trump_list:
                return self._trump_list.index(ancestor) + 1
            ancestor = ancestor.parent
        return 0


def _insert_before(trumps: list[State], anchor: State, new: Sequence[State]) -> None:
    """Insert the states ``new`` (in order) directly before ``anchor``."""
    for state in new:
        trumps.insert(trumps.index(anchor), state)


def _complete_trump_list(trumps: list[State], static: State, changing: State) -> None:
    """Add the base states Karabo implies for a custom trump list (modifies ``trumps`` in place)."""
    # Sibling pairs in significance order, least significant first.
    static_pair = [State.ACTIVE, State.PASSIVE] if static is State.PASSIVE else [State.PASSIVE, State.ACTIVE]
    changing_pair = (
        [State.INCREASING, State.DECREASING] if changing is State.DECREASING else [State.DECREASING, State.INCREASING]
    )

    def complete_pair(anchor: State, pair: list[State]) -> None:
        """Put the missing members of ``pair`` directly below ``anchor``."""
        _insert_before(trumps, anchor, [state for state in pair if state not in trumps])

    if State.CHANGING in trumps:
        complete_pair(State.CHANGING, changing_pair)
    if State.STATIC in trumps:
        complete_pair(State.STATIC, static_pair)
    if State.KNOWN in trumps:
        known = State.KNOWN
        if State.DISABLED not in trumps:
            _insert_before(trumps, known, [State.DISABLED])
        complete_pair(known, static_pair)
        if State.STATIC not in trumps:
            _insert_before(trumps, known, [State.STATIC])
        complete_pair(known, changing_pair)
        if State.RUNNING not in trumps:
            _insert_before(trumps, known, [State.RUNNING])
        if State.PAUSED not in trumps:
            _insert_before(trumps, State.RUNNING, [State.PAUSED])
        for state in (State.CHANGING, State.INTERLOCKED, State.ERROR):
            if state not in trumps:
                _insert_before(trumps, known, [state])


class MiddlelayerStateSignifier(StateSignifier):
    """The middlelayer's signifier: same arguments as :class:`StateSignifier`, but no two states tie.

    Ranks follow the trump list (least significant first; states it does not cover rank lowest),
    then the middlelayer's default order for the two options, then the declaration order of
    karabo.common's State enum.
    """

    def __init__(
        self,
        trumplist: Iterable[State | str] = (),
        staticMoreSignificant: State | str = State.PASSIVE,
        changingMoreSignificant: State | str = State.DECREASING,
    ) -> None:
        """Build the total significance order from ``trumplist`` and the two options."""
        super().__init__((), staticMoreSignificant, changingMoreSignificant)
        defaults = _MIDDLELAYER_DEFAULTS[State(staticMoreSignificant), State(changingMoreSignificant)]
        custom = [State(state) for state in trumplist]
        order = sorted(_MIDDLELAYER_DECLARATION, key=lambda s: _listed_at(s, defaults))
        order = sorted(order, key=lambda s: _listed_at(s, custom), reverse=True)   # stable: ties keep order
        self._trump_list = order[::-1]
        self._ranks = {state: len(order) - i for i, state in enumerate(order)}


def _listed_at(state: State | None, listed: Sequence[State]) -> int:
    """Position of ``state``'s nearest listed ancestor (itself included) in ``listed``, -1 if none."""
    while state is not None:
        if state in listed:
            return listed.index(state)
        state = state.parent
    return -1


# The order in which karabo.common declares its states, most significant first by design.
_MIDDLELAYER_DECLARATION = [State(name) for name in """
    UNKNOWN KNOWN INIT ERROR INTERLOCKED NORMAL STATIC INTERLOCK_OK CHANGING DECREASING COOLING
    MOVING_LEFT MOVING_DOWN MOVING_BACK ROTATING_CNTCLK RAMPING_DOWN EXTRACTING STOPPING EMPTYING
    DISENGAGING SWITCHING_OFF HOMING ROTATING MOVING SWITCHING OPENING CLOSING SEARCHING INCREASING
    HEATING MOVING_RIGHT MOVING_UP MOVING_FORWARD ROTATING_CLK RAMPING_UP INSERTING STARTING FILLING
    ENGAGING SWITCHING_ON PAUSED RUNNING ACQUIRING PROCESSING PASSIVE WARM COLD PRESSURIZED CLOSED OFF
    INSERTED STOPPED UNLOCKED DISENGAGED IGNORING ACTIVE COOLED HEATED EVACUATED OPENED ON EXTRACTED
    STARTED LOCKED ENGAGED MONITORING DISABLED INTERLOCK_BROKEN""".split()]

# The middlelayer's default orders per option pair, most significant first; states they do not
# cover come first, in declaration order (the PASSIVE/DECREASING default is the declaration order).
_MIDDLELAYER_DEFAULTS: dict[tuple[State, State], list[State]] = {
    (State.PASSIVE, State.DECREASING): [],
    (State.ACTIVE, State.DECREASING): [
        State.INTERLOCKED, State.CHANGING, State.PAUSED, State.RUNNING, State.NORMAL, State.ACTIVE,
        State.PASSIVE, State.DISABLED],
    (State.PASSIVE, State.INCREASING): [
        State.INTERLOCKED, State.INCREASING, State.CHANGING, State.DECREASING, State.PAUSED, State.RUNNING,
        State.STATIC, State.DISABLED],
    (State.ACTIVE, State.INCREASING): [
        State.INTERLOCKED, State.INCREASING, State.CHANGING, State.DECREASING, State.PAUSED, State.RUNNING,
        State.ACTIVE, State.PASSIVE, State.DISABLED],
}
