using System.Diagnostics;
using Hyperlxd.Containers.Monitor;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Containers;

public sealed partial class ContainerDriver
{
    /// <summary>The attach helper joins the container's cgroups: warm the kernel's migration lock meanwhile.</summary>
    public void ExpectExec(InstanceSpec spec) => _primer.Prime();

    public async Task<IExecSession> ExecAsync(InstanceSpec spec, ExecOptions options, CancellationToken ct)
    {
        _primer.Prime();
        if (options.Command.Count == 0)
        {
            throw new BadRequestException("Invalid exec request: the command is empty");
        }
        var status = await StatusAsync(spec.Name, ct);
        if (status is not { Running: true })
        {
            throw new BadRequestException("The instance isn't running");
        }
        if (_cgroups.IsFrozen(spec.Name))
        {
            throw new BadRequestException("The instance is frozen");
        }
        var psi = new ProcessStartInfo(_nsexec)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var args = psi.ArgumentList;
        args.Add("attach");
        args.Add("--pid");
        args.Add(status.InitPid.ToString());
        args.Add("--uid");
        args.Add(options.Uid.ToString());
        args.Add("--gid");
        args.Add(options.Gid.ToString());
        args.Add("--cwd");
        args.Add(string.IsNullOrEmpty(options.Cwd) ? (options.Uid == 0 ? "/root" : "/") : options.Cwd);
        if (File.Exists(SpecPath(spec)))
        {
            args.Add("--spec");
            args.Add(SpecPath(spec));
        }
        foreach (var (k, v) in ExecEnvironment(spec, options))
        {
            args.Add("--env");
            args.Add(k + "=" + v);
        }
        if (!options.Interactive)
        {
            AddCommand(args, options);
            return new ExecSession(Process.Start(psi)!, null);
        }

        // Interactive: the helper makes a pty in the container's own devpts and sends us the master.
        // (There is no host-pty fallback: the monitor mounts a devpts on every container's /dev/pts.)
        using var terminal = ExecTerminal.Listen(_options.RuntimeDir);
        args.Add("--tty-socket");
        args.Add(terminal.Path);
        if (options.Width > 0 && options.Height > 0)
        {
            args.Add("--tty-size");
            args.Add($"{Math.Min(options.Width, ushort.MaxValue)}x{Math.Min(options.Height, ushort.MaxValue)}");
        }
        AddCommand(args, options);
        var process = Process.Start(psi)!;
        // The helper's own stdio: stdin unused; stderr carries (errno, message) when it fails.
        process.StandardInput.Close();
        _ = process.StandardOutput.BaseStream.CopyToAsync(Stream.Null, CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            return new ExecSession(process, new PtyStream(await terminal.ReceiveMasterAsync(process, stderr, ct)));
        }
        catch
        {
            await new ExecSession(process, null).DisposeAsync(); // kills the command if it got that far
            throw;
        }
    }

    private static void AddCommand(System.Collections.ObjectModel.Collection<string> args, ExecOptions options)
    {
        args.Add("--");
        foreach (var a in options.Command)
        {
            args.Add(a);
        }
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
