using System.Diagnostics;
using Hyperlxd.Containers.Interop;
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
        (int Master, int Slave, string SlavePath)? pty = null;
        if (options.Interactive)
        {
            pty = Syscalls.OpenPty(options.Width, options.Height);
            args.Add("--tty");
            args.Add(pty.Value.SlavePath);
        }
        args.Add("--");
        foreach (var a in options.Command)
        {
            args.Add(a);
        }
        try
        {
            var process = Process.Start(psi)!;
            return new ExecSession(process, pty?.Master ?? -1, pty?.Slave ?? -1);
        }
        catch
        {
            if (pty is { } p)
            {
                Syscalls.Close(p.Master);
                Syscalls.Close(p.Slave);
            }
            throw;
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
