# tini's own tests, run against tend through the `tini` shim (shims/tini). tini's drivers
# (test/run_inner_tests.py, test/run_outer_tests.py, ci/run_build.sh) are one long script
# each, stop at the first failure, and the outer one needs Docker; this file runs the same
# checks one test each, with tini's own test programs from its source package (TINI_SRC,
# set by run.sh). `docker run IMG INIT CMD` becomes `unshare --pid --fork --mount-proc INIT
# CMD` (the init is PID 1; signals come from outside, as `docker kill` sends them), and
# `docker run --tty` + `docker attach` a pseudo-terminal.
import errno
import os
import pty
import select
import signal
import subprocess
import sys
import time

import psutil
import pytest

SRC = os.environ.get('TINI_SRC', '')
TEST = os.path.join(SRC, 'test')
PY = sys.executable
NS = ['unshare', '--pid', '--fork', '--mount-proc']

pytestmark = pytest.mark.skipif(not os.path.isdir(TEST), reason=f'TINI_SRC ({SRC!r}) has no test/ directory; run test/peers/run.sh')


def run(argv, timeout=30, **kwargs):
    return subprocess.run(argv, timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def busy_wait(condition, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(timeout / 100)
    raise AssertionError('condition was never met')


def descendants(pid):
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def names(processes):
    out = []
    for process in processes:
        try:
            out.append(process.name())
        except psutil.NoSuchProcess:
            pass
    return out


# --- ci/run_build.sh: smoke tests ---------------------------------------------------

@pytest.mark.skip(reason="n.a.: tini --version / -h / -l / -vvv / TINI_VERBOSITY print tini's own text; tend has `tend --version` and `tend --help`")
def test_smoke_version_help_license_verbosity():
    pass


def test_smoke_no_arguments_exits_non_zero():
    assert run(['tini']).returncode != 0


def test_smoke_true_exits_0_and_false_non_zero():
    assert run(['tini', 'true']).returncode == 0
    assert run(['tini', 'false']).returncode != 0


def test_smoke_double_dash_runs_a_command_named_dashes():
    assert run(['tini', '--', 'true']).returncode == 0
    assert run(['tini', '--', '--', 'true']).returncode != 0


def test_smoke_exits_127_if_the_command_does_not_exist():
    assert run(['tini', 'foobar123']).returncode == 127


def test_smoke_exits_126_if_the_command_is_not_executable():
    assert run(['tini', '/etc']).returncode == 126


def test_smoke_does_not_break_pipes():
    assert run(['tini', 'sh'], input='exit 0\n').returncode == 0


# --- test/run_inner_tests.py ---------------------------------------------------------

@pytest.mark.skip(reason="n.a.: tini -e CODE (exit code remapping): tend has no such option")
def test_exit_code_inclusive():
    pass


def test_exit_code_exclusive():
    """Without -e every exit code of CMD is tini's (tend's) own."""
    for code in range(256):
        ret = run(['tini', 'sh', '-c', f'exit {code}']).returncode
        assert ret == code, f'exit {code} came back as {ret}'


# (name, init command, extra environment): tini's three targets.
TARGETS = [
    ('subreaper-proxy', [PY, os.path.join(TEST, 'subreaper-proxy.py'), 'tini'], {}),
    ('-s', ['tini', '-s'], {}),
    ('TINI_SUBREAPER', ['tini'], {'TINI_SUBREAPER': ''}),
]
TARGET_IDS = [t[0] for t in TARGETS]


def resolved(target):
    """subreaper-proxy execs its argument by path: give it the shim's."""
    return [shutil_which(word) if word == 'tini' and i > 0 else word for i, word in enumerate(target)]


def shutil_which(name):
    import shutil
    return shutil.which(name)


@pytest.mark.parametrize('name,target,env', TARGETS, ids=TARGET_IDS)
def test_reaping(name, target, env):
    p = run(resolved(target) + [PY, os.path.join(TEST, 'reaping', 'stage_1.py')], env=dict(os.environ, **env))
    assert "zombie reaping won't work" not in p.stderr
    assert 'Reaped zombie process with pid=' not in p.stderr
    assert p.returncode == 0, f'OUT: {p.stdout}\nERR: {p.stderr}'


@pytest.mark.parametrize('name', TARGET_IDS)
@pytest.mark.skip(reason='n.a.: tini -w (warn about reaped zombies): tend has no such option')
def test_reaping_display(name):
    pass


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2], ids=['TERM', 'USR1', 'USR2'])
@pytest.mark.parametrize('name,target,env', TARGETS, ids=TARGET_IDS)
def test_signals(name, target, env, signum):
    p = subprocess.Popen(resolved(target) + [PY, os.path.join(TEST, 'signals', 'test.py')], env=dict(os.environ, **env))
    try:
        busy_wait(lambda: len(descendants(p.pid)) > 1, 10)
        p.send_signal(signum)
        assert p.wait(timeout=10) == 128 + signum
    finally:
        if p.poll() is None:
            p.kill()


@pytest.mark.parametrize('how', ['-g', 'TINI_KILL_PROCESS_GROUP'])
def test_process_group(how):
    """CMD ignores SIGUSR1 and waits for a child that does not: the group gets it."""
    argv = ['tini', '-g'] if how == '-g' else ['tini']
    env = dict(os.environ, TINI_KILL_PROCESS_GROUP='1') if how != '-g' else None
    p = subprocess.Popen(argv + [PY, os.path.join(TEST, 'pgroup', 'stage_1.py')], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # tini's condition is "2 descendants"; the sleep among them makes sure they are
        # CMD and its child, not a process of tend's own that is there for a moment.
        busy_wait(lambda: sorted(names(descendants(p.pid))) == ['python3', 'sleep'], 10)
        p.send_signal(signal.SIGUSR1)
        busy_wait(lambda: p.poll() is not None, 10)
    finally:
        if p.poll() is None:
            p.kill()


@pytest.mark.skip(reason='n.a.: tini without -s must fail to reap; tend always registers as a child subreaper, so reaping cannot fail')
def test_zombie_reaping_failure():
    pass


@pytest.mark.skip(reason="n.a.: tini keeps the caller's ignored and blocked signals for CMD; tend gives CMD default dispositions and an empty mask (README, 'tend and other inits')")
def test_signal_configuration():
    pass


@pytest.mark.skip(reason='n.a.: tini -p SIG (parent death signal): tend has no such option')
def test_parent_death_signal():
    pass


# --- test/run_outer_tests.py, with a PID namespace for `docker run` --------------------

def init_of(unshare_pid):
    """The init's pid as seen from here: the child unshare forked."""
    def child():
        try:
            with open(f'/proc/{unshare_pid}/task/{unshare_pid}/children') as f:
                kids = f.read().split()
            return int(kids[0]) if kids else None
        except OSError:
            return None
    busy_wait(lambda: child() is not None, 10)
    return child()


def test_pid1_reaping():
    p = run(NS + ['tini', PY, os.path.join(TEST, 'reaping', 'stage_1.py')], timeout=10)
    assert p.returncode == 0, f'OUT: {p.stdout}\nERR: {p.stderr}'


@pytest.mark.parametrize('sig,code', [('TERM', 143), ('USR1', 138), ('USR2', 140)])
def test_pid1_signals(sig, code):
    p = subprocess.Popen(NS + ['tini', PY, os.path.join(TEST, 'signals', 'test.py')])
    try:
        init = init_of(p.pid)
        time.sleep(2)  # as the outer test: `docker kill -s SIG` two seconds after `docker run`
        os.kill(init, getattr(signal, f'SIG{sig}'))
        assert p.wait(timeout=8) == code
    finally:
        if p.poll() is None:
            p.kill()


def test_pid1_exit_code_of_a_missing_command():
    assert run(NS + ['tini', 'zzzz'], timeout=10).returncode == 127


@pytest.mark.skip(reason='n.a.: tini -z / -h / -w as PID 1: tend has no such options')
def test_pid1_exit_code_of_options():
    pass


@pytest.mark.skip(reason='n.a.: valgrind checks tini\'s C code for leaks; tend is not a C program')
def test_valgrind():
    pass


@pytest.mark.skip(reason="n.a.: installs tini's .deb and .rpm packages")
def test_installation():
    pass


def on_a_terminal(argv, act, timeout=10):
    """Runs the init as PID 1 on a new pseudo-terminal (as `docker run --tty`); `act`
    gets the terminal's fd once the shell printed '#'. Returns the exit status."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(NS[0], NS + ['tini', '--'] + argv)
    seen = b''
    deadline = time.monotonic() + timeout
    try:
        while b'#' not in seen:
            if time.monotonic() > deadline:
                raise AssertionError(f'no prompt on the terminal: {seen!r}')
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    seen += os.read(fd, 1024)
                except OSError as error:
                    if error.errno != errno.EIO:
                        raise
        act(fd)
        while True:
            if time.monotonic() > deadline:
                raise AssertionError('the init did not exit')
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return os.waitstatus_to_exitcode(status)
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    os.read(fd, 1024)
                except OSError:
                    pass
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)


def test_tty_dash_exit_0():
    assert on_a_terminal(['dash'], lambda fd: os.write(fd, b'\nexit 0\n')) == 0


def test_tty_dash_loop_ctrl_c():
    assert on_a_terminal(['dash', '-c', 'while true; do echo \\#; sleep 0.1; done'], lambda fd: os.write(fd, b'\x03')) == 128 + signal.SIGINT
