using System.Diagnostics;
using Hyperlxd.Containers.Monitor;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Containers;

public sealed partial class ContainerDriver
{
    /// <summary>
    /// An attach helper started for this exec joins the container's cgroups: warm the kernel's
    /// migration lock meanwhile. A prepared helper has joined already (priming would only slow forks).
    /// </summary>
    public void ExpectExec(InstanceSpec spec)
    {
        if (!_spares.IsReady(spec.Name))
        {
            _primer.Prime();
        }
    }

    public async Task<IExecSession> ExecAsync(InstanceSpec spec, ExecOptions options, CancellationToken ct)
    {
        ExpectExec(spec);
        if (options.Command.Count == 0)
        {
            throw new BadRequestException("Invalid exec request: the command is empty");
        }
        if (_cgroups.IsFrozen(spec.Name))
        {
            throw new BadRequestException("The instance is frozen");
        }
        var command = CommandTokens(spec, options);
        // A prepared helper belongs to the running init it entered (spares go at every start and
        // stop): no status round trip to the monitor is needed to use it.
        if (!options.Interactive && _spares.TryTake(spec.Name) is { } spare)
        {
            try
            {
                await ExecSpares.SendCommandAsync(spare.Helper, command, ct);
                return new ExecSession(spare.Helper, null, RefillAfter(spec, spare.InitPid));
            }
            catch (IOException)
            {
                spare.Helper.DisposeWithPipes(); // it died waiting (the container stopped under it): start one afresh
            }
        }
        var status = await StatusAsync(spec.Name, ct);
        if (status is not { Running: true })
        {
            throw new BadRequestException("The instance isn't running");
        }
        if (!options.Interactive)
        {
            return new ExecSession(StartAttach(spec, status.InitPid, command), null, RefillAfter(spec, status.InitPid));
        }

        // Interactive: the helper makes a pty in the container's own devpts and sends us the master.
        // (There is no host-pty fallback: the monitor mounts a devpts on every container's /dev/pts.)
        using var terminal = ExecTerminal.Listen(_options.RuntimeDir);
        var tty = new List<string> { "--tty-socket", terminal.Path };
        if (options.Width > 0 && options.Height > 0)
        {
            tty.Add("--tty-size");
            tty.Add($"{Math.Min(options.Width, ushort.MaxValue)}x{Math.Min(options.Height, ushort.MaxValue)}");
        }
        var process = StartAttach(spec, status.InitPid, tty.Concat(command));
        // The helper's own stdio: stdin unused; stderr carries (errno, message) when it fails.
        process.StandardInput.Close();
        _ = process.StandardOutput.BaseStream.CopyToAsync(Stream.Null, CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
#pragma warning disable CA2000 // the session owns the pty stream and disposes it with the process
            return new ExecSession(process, new PtyStream(await terminal.ReceiveMasterAsync(process, stderr, ct)));
#pragma warning restore CA2000
        }
        catch
        {
            await new ExecSession(process, null).DisposeAsync(); // kills the command if it got that far
            throw;
        }
    }

    /// <summary>Prepares the next helper once an exec has ended (<see cref="ExecSpares.AfterExec"/>).</summary>
    private Action RefillAfter(InstanceSpec spec, int initPid) => () => _spares.Refill(spec, initPid, ExecSpares.AfterExec);

    /// <summary>
    /// hyperlxd-nsexec attach for this container (its policy from the spec) with <paramref name="rest"/> after it, stdio
    /// redirected. Started on the calling thread, no wrapper: the helper arms its own parent-death signal where it needs one.
    /// </summary>
    private Process StartAttach(InstanceSpec spec, int initPid, IEnumerable<string> rest)
    {
        var args = new List<string> { "attach", "--pid", initPid.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        if (File.Exists(SpecPath(spec)))
        {
            args.Add("--spec");
            args.Add(SpecPath(spec));
        }
        args.AddRange(rest);
        return HostCommand.Start(_nsexec, args, HostCommandOptions.Detached, Redirect.All);
    }

    /// <summary>A helper that has entered the container and waits for <see cref="CommandTokens"/> on stdin.</summary>
    private Process StartPrepared(InstanceSpec spec, int initPid) => StartAttach(spec, initPid, ["--deferred"]);

    /// <summary>The command's part of the attach arguments: ids, directory, environment, then <c>-- CMD ARGS</c>.</summary>
    private static List<string> CommandTokens(InstanceSpec spec, ExecOptions options)
    {
        var t = new List<string>
        {
            "--uid", options.Uid.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--gid", options.Gid.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--cwd", string.IsNullOrEmpty(options.Cwd) ? (options.Uid == 0 ? "/root" : "/") : options.Cwd,
        };
        foreach (var (k, v) in ExecEnvironment(spec, options))
        {
            t.Add("--env");
            t.Add(k + "=" + v);
        }
        t.Add("--");
        t.AddRange(options.Command);
        return t;
    }

    /// <summary>LXD's exec environment: PATH, HOME, USER, LANG, the container's <c>environment.*</c>, then the request's.</summary>
    private static Dictionary<string, string> ExecEnvironment(InstanceSpec spec, ExecOptions options)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ["LANG"] = "C.UTF-8",
        };
        if (options.Uid == 0)
        {
            env["HOME"] = "/root";
            env["USER"] = "root";
        }
        foreach (var (k, v) in SpecWriter.Environment(spec.Config))
        {
            env[k] = v;
        }
        foreach (var (k, v) in options.Environment)
        {
            env[k] = v;
        }
        return env;
    }

    public Task<Stream> ConsoleAsync(InstanceSpec spec, CancellationToken ct) => MonitorClient.ConsoleStreamAsync(SocketPath(spec.Name), ct);

    /// <summary>The ring buffer of a running container, else the log its monitor wrote at exit.</summary>
    public async Task<byte[]> ConsoleLogAsync(InstanceSpec spec, CancellationToken ct)
    {
        if (await IsRunningAsync(spec.Name, ct))
        {
            return await MonitorClient.ConsoleLogAsync(SocketPath(spec.Name), ct);
        }
        return File.Exists(LogPath(spec)) ? await File.ReadAllBytesAsync(LogPath(spec), ct) : Array.Empty<byte>();
    }
}
