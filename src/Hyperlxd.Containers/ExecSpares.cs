using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Containers;

/// <summary>
/// One prepared attach helper per running container, for non-interactive execs: it has joined the
/// container's cgroups and namespaces ahead of time (<c>hyperlxd-nsexec attach --deferred</c>) and
/// waits for its command on stdin. On cgroup v1 the first task moved into a cgroup after an idle
/// spell waits out an RCU grace period (~10 ms on these hosts), most of an exec; a prepared helper
/// pays it off the request path. While it waits it is a task of the container's cgroups, and so is
/// its child that will become the command (the only one in the memory cgroup; the state's process
/// count leaves both out), so none is kept where <c>limits.processes</c> counts every task.
/// A helper whose daemon dies reads EOF and exits without running anything.
/// </summary>
internal sealed class ExecSpares(Func<InstanceSpec, int, Process> start)
{
    private readonly object _gate = new();
    private readonly Dictionary<string, (int InitPid, Process Helper)> _ready = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Task> _starting = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _drops = new(StringComparer.Ordinal); // a Drop during a start ends what it made

    public static readonly TimeSpan AfterStart = TimeSpan.FromMilliseconds(5);

    /// <summary>
    /// After an exec, the next helper starts once the exec's output, close frames and reply are out:
    /// on a small host its start (a process, its cgroup join) would otherwise share the CPU with
    /// them. Short enough that a loop of execs still finds it ready.
    /// </summary>
    public static readonly TimeSpan AfterExec = TimeSpan.FromMilliseconds(20);

    public static bool Wanted(InstanceSpec spec) => !spec.Config.ContainsKey("limits.processes");

    /// <summary>
    /// The container's prepared helper and the init it entered, or null when there is none or that
    /// init is gone. One still starting is not waited for: measured, that is slower than starting a
    /// helper now (both wait for the same grace period, and the waiting adds the prepared one's own start).
    /// </summary>
    public (int InitPid, Process Helper)? TryTake(string name)
    {
        lock (_gate)
        {
            if (!_ready.Remove(name, out var spare))
            {
                return null;
            }
            if (!spare.Helper.HasExited && Syscalls.Kill(spare.InitPid, 0))
            {
                return spare;
            }
            _ = End(spare.Helper);
            return null;
        }
    }

    public bool IsReady(string name)
    {
        lock (_gate)
        {
            return _ready.TryGetValue(name, out var spare) && !spare.Helper.HasExited;
        }
    }

    /// <summary>Prepares the next helper in the background (after <paramref name="delay"/>) unless one is ready or on its way.</summary>
    public void Refill(InstanceSpec spec, int initPid, TimeSpan delay = default)
    {
        if (!Wanted(spec))
        {
            return;
        }
        lock (_gate)
        {
            if (_ready.ContainsKey(spec.Name) || _starting.ContainsKey(spec.Name))
            {
                return;
            }
            var drops = DropsOf(spec.Name);
            _starting[spec.Name] = Task.Run(async () =>
            {
                await Task.Delay(delay);
                Prepare(spec, initPid, drops);
            });
        }
    }

    private void Prepare(InstanceSpec spec, int initPid, int drops)
    {
        Process? helper = null;
        try
        {
            // Dropped while waiting (a stop began): starting now would put a helper into a group being removed.
            if (DropsOf(spec.Name) == drops)
            {
                helper = start(spec, initPid);
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // No spare: the next exec starts its helper itself.
        }
        lock (_gate)
        {
            _starting.Remove(spec.Name);
            if (helper is not null && (DropsOf(spec.Name) != drops || !_ready.TryAdd(spec.Name, (initPid, helper))))
            {
                _ = End(helper);
            }
        }
    }

    /// <summary>Ends the container's prepared helper (stop, delete: its cgroups must empty).</summary>
    public void Drop(string name) => _ = DropAsync(name);

    /// <summary>
    /// Ends the ready helper and completes when it has exited. A stop waits for that: the helper's
    /// forked child lives in the container's pid namespace, and only once the helper is gone is that
    /// child reparented to the container's init, which reaps it. Killed together, the namespace's
    /// teardown waited (1-2 s) for a zombie whose parent was outside it.
    /// </summary>
    public Task DropAsync(string name)
    {
        lock (_gate)
        {
            _drops[name] = DropsOf(name) + 1;
            return _ready.Remove(name, out var spare) ? End(spare.Helper) : Task.CompletedTask;
        }
    }

    /// <summary>A deleted container: nothing of it is kept (its drop count included, once no start is under way).</summary>
    public void Forget(string name)
    {
        lock (_gate)
        {
            Drop(name);
            if (!_starting.ContainsKey(name))
            {
                _drops.Remove(name);
            }
        }
    }

    private int DropsOf(string name)
    {
        lock (_gate)
        {
            return _drops.GetValueOrDefault(name);
        }
    }

    /// <summary>
    /// Tasks of the container's cgroups that are not the container's own: a waiting helper that has
    /// joined them and its child, which waits for the command (it alone joins the memory cgroup).
    /// </summary>
    public int Waiting(string name)
    {
        int pid;
        lock (_gate)
        {
            if (!_ready.TryGetValue(name, out var spare) || spare.Helper.HasExited)
            {
                return 0;
            }
            pid = spare.Helper.Id;
        }
        var pids = new List<string> { pid.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        try
        {
            pids.AddRange(File.ReadAllText($"/proc/{pid}/task/{pid}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries));
        }
        catch (IOException)
        {
        }
        return pids.Count(InContainer);

        bool InContainer(string p)
        {
            try
            {
                return File.ReadLines($"/proc/{p}/cgroup").Any(l => l.EndsWith("/" + name, StringComparison.Ordinal));
            }
            catch (IOException)
            {
                return false;
            }
        }
    }

    /// <summary>The command for a prepared helper: the 4-byte length and the NUL-terminated tokens.</summary>
    public static async Task SendCommandAsync(Process helper, IEnumerable<string> tokens, CancellationToken ct)
    {
        var body = new MemoryStream();
        foreach (var t in tokens)
        {
            if (t.Contains('\0'))
            {
                throw new BadRequestException("Invalid exec request: arguments and environment cannot contain NUL");
            }
            body.Write(Encoding.UTF8.GetBytes(t));
            body.WriteByte(0);
        }
        var frame = new byte[4 + body.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)body.Length);
        body.ToArray().CopyTo(frame, 4);
        var stdin = helper.StandardInput.BaseStream;
        await stdin.WriteAsync(frame, ct);
        await stdin.FlushAsync(ct);
    }

    /// <summary>
    /// Kills a helper and reaps it in the background. Never waits here (callers hold the one lock of
    /// all spares): a helper of a frozen container dies only when it is thawed, which a stop does
    /// after dropping its spare (waiting cost every frozen stop 1 s and ran them one at a time).
    /// </summary>
    /// <summary>
    /// Ends a helper by closing its stdin: its child (in the container's pid namespace) reads EOF
    /// instead of a command and exits, and the helper reaps it and exits too. A SIGKILL would orphan
    /// that child to the host's init, and a stop's namespace teardown would wait for its reaping.
    /// </summary>
    private static Task End(Process helper) => Task.Run(async () =>
    {
        try
        {
            helper.StandardInput.Close();
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            // exited meanwhile
        }
        using (var patience = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
        {
            try
            {
                await helper.WaitForExitAsync(patience.Token);
            }
            catch (OperationCanceledException)
            {
                HostCommand.Kill(helper);
                await helper.WaitForExitAsync();
            }
        }
        helper.DisposeWithPipes();
    });
}
