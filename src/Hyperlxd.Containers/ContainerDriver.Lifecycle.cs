using Hyperlxd.Containers.Cgroups;
using Hyperlxd.Containers.Monitor;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Containers;

public sealed partial class ContainerDriver
{
    /// <summary>
    /// Readies the root for the map the next start uses (<c>volatile.idmap.next</c>) and says what the disk
    /// holds (<c>volatile.last_state.idmap</c>, as LXD): unshifted ("[]") when the root can be mounted
    /// idmapped, else chown-shifted into the map, from whatever map it was shifted to before. Privileged
    /// containers keep the image's ids. Called after create and before every start.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, string>> PrepareAsync(InstanceSpec spec, CancellationToken ct)
    {
        var rootfs = SpecWriter.RootFs(spec);
        if (!Directory.Exists(rootfs))
        {
            throw new BadRequestException($"Failed preparing instance \"{spec.DisplayName}\": {rootfs} does not exist");
        }
        var keys = new Dictionary<string, string>();
        if (!spec.Config.ContainsKey(NextKey))
        {
            // Not planned by the daemon (a driver used on its own): the config alone decides.
            foreach (var (k, v) in await PlanVolatileAsync(spec.Config, _ => Task.FromResult<IReadOnlyList<IReadOnlyDictionary<string, string>>>([]), ct))
            {
                keys[k] = v;
            }
        }
        var map = keys.TryGetValue(NextKey, out var planned) ? IdMap.FromLxdJson(planned) : await NextMapAsync(spec.Config, ct);
        var disk = await DiskMapAsync(spec, map, ct);
        IdMap.Shift(rootfs, IdMap.OnDisk(spec.Config), disk);
        keys["volatile.idmap.current"] = map?.ToLxdJson() ?? "[]";
        keys["volatile.last_state.idmap"] = disk?.ToLxdJson() ?? "[]";
        return keys;
    }

    public async Task StartAsync(InstanceSpec spec, CancellationToken ct)
    {
        _primer.Prime();
        _spares.Drop(spec.Name); // one left from a run that ended by itself would keep the old cgroups busy
        var socket = SocketPath(spec.Name);
        if (await MonitorClient.RequestAsync(socket, "status", ct) is { } status && MonitorStatus.Parse(status, default).Running)
        {
            throw new BadRequestException("The instance is already running");
        }
        var map = await NextMapAsync(spec.Config, ct);
        var disk = await DiskMapAsync(spec, map, ct);
        if (IdMap.OnDisk(spec.Config) != disk)
        {
            // Not prepared for this map (the daemon prepares before each start; a driver used on its own may not): shift now.
            IdMap.Shift(SpecWriter.RootFs(spec), IdMap.OnDisk(spec.Config), disk);
        }
        var limits = CgroupLimits.From(spec.Config);
        Directory.CreateDirectory(spec.StateDir);
        Directory.CreateDirectory(_options.RuntimeDir);
        File.Delete(StateFilePath(spec.Name));

        await using var revert = new Reverter();
        await RemoveGroupsAsync(spec.Name, ct); // leftovers of a crash
        revert.Add(() => _cgroups.RemoveAsync(spec.Name, CancellationToken.None)); // also when Create refuses a limit midway
        _cgroups.Create(spec.Name, limits);
        MakeNodes(spec, map);
        // The nodes' access: devices.allow now (v1), or rules of the device program the monitor attaches (v2).
        var nodeRules = spec.Nodes.Select(n => n.Rule).Distinct().Where(rule => !_cgroups.AllowDevice(spec.Name, rule, true)).ToList();
        if (map is not null)
        {
            CgroupDelegation.Delegate(_cgroups.Paths(spec.Name), map.Root.Uid, map.Root.Gid);
        }
        var specFile = SpecPath(spec);
        var cgroupfs = CgroupDelegation.Mounts(_cgroups, _options.CgroupRoot, spec.Name);
        await File.WriteAllTextAsync(specFile, SpecWriter.Build(spec, map, _cgroups.Paths(spec.Name), cgroupfs, idmapRootfs: disk is null,
            deviceAllow: _cgroups.MonitorDeviceRules(limits).Concat(nodeRules)), ct);

        string[] start = ["start", "--name", spec.Name, "--spec", specFile, "--socket", socket, "--log", LogPath(spec)];
        await InstanceLog.StartAsync(spec, map, disk);
        var (code, _, err) = _options.NicNamespace is { } netns && spec.Nics.Count > 0
            ? await RunAsync("nsenter", ["--net=" + netns, "--", _monitor, .. start], CancellationToken.None)
            : await RunAsync(_monitor, start, CancellationToken.None);
        if (code != 0)
        {
            throw await InstanceLog.FailedAsync(spec, MonitorError(err));
        }
        // The monitor answers once init has exec'd; an init already gone (killed by its limits, an init
        // that exits at once) is a failed start, not a "successful" one that leaves the instance stopped.
        var after = await StatusAsync(spec.Name, CancellationToken.None);
        if (after is not { Running: true })
        {
            var how = after?.Exit is not { } exit ? "" : exit.Signal != 0 ? $" (killed by signal {exit.Signal})" : $" (exit code {exit.Code})";
            throw await InstanceLog.FailedAsync(spec, $"its init ended right after it started{how}");
        }
        revert.Success();
        if (ExecSpares.Wanted(spec))
        {
            // Shortly after the start: the cgroup moves of the start have just warmed the kernel's
            // migration lock, so the helper joins at once (no grace period), and an `lxc exec` right
            // after `lxc launch` (~15 ms later, the client's own start-up) finds it ready (perf trace).
            _ = Task.Run(async () =>
            {
                await Task.Delay(ExecSpares.AfterStart, CancellationToken.None);
                if (await StatusAsync(spec.Name, CancellationToken.None) is { Running: true } started)
                {
                    _spares.Refill(spec, started.InitPid);
                }
            }, CancellationToken.None);
        }
    }

    /// <summary>"hyperlxd-monitor: errno=2: Failed exec /sbin/init: ..." → the message (else the text after the program name).</summary>
    private static string MonitorError(string stderr)
    {
        if (HelperReport.TryParse(stderr, out _, out var message))
        {
            return message;
        }
        var i = message.IndexOf(": ", StringComparison.Ordinal);
        return i >= 0 ? message[(i + 2)..] : message;
    }

    public async Task StopAsync(InstanceSpec spec, bool force, TimeSpan timeout, CancellationToken ct)
    {
        try
        {
            await _spares.DropAsync(spec.Name).WaitAsync(TimeSpan.FromSeconds(5), ct);
        }
        catch (TimeoutException)
        {
            // a helper that will not exit: the stop goes on (the namespace's teardown then waits for it)
        }
        var socket = SocketPath(spec.Name);
        // cgroup2: cgroup.kill ends every process of the group at once, frozen or not, exec'd ones too.
        var killed = force && _cgroups.Kill(spec.Name);
        if (_cgroups.IsFrozen(spec.Name))
        {
            if (force && !killed)
            {
                // The v1 freezer holds even SIGKILL until the thaw: kill first, so nothing runs after it.
                await MonitorClient.RequestAsync(socket, "kill SIGKILL", ct);
            }
            _cgroups.Freeze(spec.Name, false); // a frozen init can neither halt nor die
        }
        var request = force
            ? "stop SIGKILL"
            : $"stop {HaltSignal(spec)} {Math.Max(0, (long)Math.Ceiling(timeout.TotalSeconds))}";
        // null: already stopped (the monitor is gone); stopping again only cleans up.
        await MonitorClient.RequestAsync(socket, request, ct);
        await CleanupAsync(spec, ct);
    }

    /// <summary>The monitor's <c>wait</c>: answered when init has exited, with how (reason <c>reboot</c>: reboot(2) inside).</summary>
    public async Task<ExitInfo?> WaitExitAsync(InstanceSpec spec, CancellationToken ct) =>
        await MonitorClient.RequestAsync(SocketPath(spec.Name), "wait", ct) is { } line ? MonitorStatus.Parse(line, DateTimeOffset.UtcNow).Exit : null;

    /// <summary>The signal that makes the container's init halt: systemd wants SIGRTMIN+3, busybox/sysvinit SIGPWR.</summary>
    private static string HaltSignal(InstanceSpec spec)
    {
        try
        {
            var init = new FileInfo(Path.Combine(SpecWriter.RootFs(spec), "sbin", "init"));
            var target = init.LinkTarget ?? "";
            return target.Contains("systemd", StringComparison.Ordinal) ? "RTMIN+3" : "SIGPWR";
        }
        catch (IOException)
        {
            return "SIGPWR";
        }
    }

    public Task FreezeAsync(InstanceSpec spec, CancellationToken ct) => SetFrozenAsync(spec, true, ct);

    public Task UnfreezeAsync(InstanceSpec spec, CancellationToken ct) => SetFrozenAsync(spec, false, ct);

    private async Task SetFrozenAsync(InstanceSpec spec, bool frozen, CancellationToken ct)
    {
        if (!await IsRunningAsync(spec.Name, ct))
        {
            throw new BadRequestException("The instance isn't running");
        }
        _cgroups.Freeze(spec.Name, frozen);
    }

    internal async Task<bool> IsRunningAsync(string name, CancellationToken ct) =>
        await MonitorClient.RequestAsync(SocketPath(name), "status", ct) is { } s && MonitorStatus.Parse(s, default).Running;

    /// <summary>Removes the cgroups of a stopped container; the state file stays (it records the exit) until the next start.</summary>
    public async Task CleanupAsync(InstanceSpec spec, CancellationToken ct)
    {
        if (await IsRunningAsync(spec.Name, ct))
        {
            return;
        }
        _spares.Drop(spec.Name);
        if (!await RemoveGroupsAsync(spec.Name, ct))
        {
            throw new TransientException($"Failed removing the cgroups of instance \"{spec.DisplayName}\": still busy");
        }
        var nodes = Path.Combine(spec.StateDir, "devices");
        if (Directory.Exists(nodes))
        {
            Directory.Delete(nodes, true); // unix-char/unix-block nodes: made again at the next start
        }
    }

    /// <summary>After a delete (or a rename away from the name): the exit record and a stale socket go with the container.</summary>
    public void Forget(InstanceSpec spec)
    {
        _spares.Forget(spec.Name);
        // The run directory appears with the first start: a daemon that has started nothing has none (File.Delete would throw).
        if (Directory.Exists(_options.RuntimeDir))
        {
            File.Delete(StateFilePath(spec.Name));
            File.Delete(SocketPath(spec.Name));
        }
    }

    /// <summary>
    /// Removes the cgroups of a container whose init is gone. A task of our own pid namespace still in
    /// them is a helper of ours (a prepared or mid-attach one, maybe of an earlier daemon) and is killed
    /// first; tasks of another pid namespace are never touched here.
    /// </summary>
    private async Task<bool> RemoveGroupsAsync(string name, CancellationToken ct)
    {
        // A helper that was being started when the stop began joins the group after the first sweep
        // (and keeps it busy until killed): sweep again before each new round of rmdir attempts.
        for (var round = 0; round < 5; round++)
        {
            KillStragglers(name);
            if (await _cgroups.RemoveAsync(name, ct))
            {
                return true;
            }
        }
        return false;
    }

    private void KillStragglers(string name)
    {
        var ours = PidNamespace("self");
        foreach (var dir in _cgroups.Paths(name).Where(Directory.Exists))
        {
            foreach (var procs in Directory.EnumerateFiles(dir, "cgroup.procs", SearchOption.AllDirectories))
            {
                try
                {
                    foreach (var line in File.ReadLines(procs))
                    {
                        if (int.TryParse(line, out var pid) && pid > 0 && ours is not null
                            && PidNamespace(pid.ToString(System.Globalization.CultureInfo.InvariantCulture)) == ours)
                        {
                            _ = Syscalls.Kill(pid, 9); // gone already is fine
                        }
                    }
                }
                catch (IOException)
                {
                    // the group went away meanwhile
                }
            }
        }
    }

    private static string? PidNamespace(string pid)
    {
        try
        {
            return new FileInfo($"/proc/{pid}/ns/pid").LinkTarget;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>
    /// The daemon's parent cgroup goes with it when no container of its own is left under it (a
    /// daemon on a temporary directory would otherwise leave one per hierarchy on the host).
    /// </summary>
    public void Shutdown() => _cgroups.RemoveParent();

    public async Task ReconcileAsync(IReadOnlyCollection<InstanceSpec> known, CancellationToken ct)
    {
        var names = known.Select(k => k.Name).ToHashSet(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        // Exec terminal sockets of a daemon that died mid-exec: no helper can still be connecting to them.
        ExecTerminal.RemoveLeftovers(_options.RuntimeDir);
        if (Directory.Exists(_options.RuntimeDir))
        {
            foreach (var file in Directory.EnumerateFiles(_options.RuntimeDir))
            {
                if (Path.GetExtension(file) is ".sock" or ".state")
                {
                    seen.Add(Path.GetFileNameWithoutExtension(file));
                }
            }
        }
        foreach (var name in _cgroups.List())
        {
            seen.Add(name);
        }
        foreach (var name in seen.Where(n => !names.Contains(n)))
        {
            // Unknown: deleted or half-created while the daemon was down. Kill and forget it.
            await MonitorClient.RequestAsync(SocketPath(name), "stop SIGKILL", ct);
            await RemoveGroupsAsync(name, ct);
            File.Delete(SocketPath(name));
            File.Delete(StateFilePath(name));
        }
        foreach (var spec in known)
        {
            // Known and stopped while we were away: keep the exit record, free the cgroups.
            await CleanupAsync(spec, ct);
        }
    }
}
