using System.Diagnostics;
using Hyperlxd.Core.Instances;
using Hyperlxd.Interop.Libvirt;

namespace Hyperlxd.Vms;

public sealed partial class VmDriver
{
    private int AgentTimeoutSeconds => Math.Max(1, (int)Math.Ceiling(_options.AgentTimeout.TotalSeconds));

    /// <summary>The guest agent of a VM; each command waits at most <paramref name="timeoutSeconds"/> for an answer.</summary>
    private GuestAgent Agent(InstanceSpec spec, int? timeoutSeconds = null) =>
        new(Transport(DomainName(spec.Name)), spec.DisplayName) { TimeoutSeconds = timeoutSeconds ?? AgentTimeoutSeconds };

    /// <summary>
    /// One agent command through libvirt. "Not connected" (error 86 — for about a second after the daemon
    /// reopened the root, or while the guest boots) is retried until the command's own timeout has passed;
    /// an agent that was connected but did not answer has used that time up already.
    /// </summary>
    private AgentTransport Transport(string domainName) => (json, timeout) =>
    {
        var start = Stopwatch.GetTimestamp();
        while (true)
        {
            using var domain = Connection.LookupDomain(domainName)
                ?? throw new GuestAgentException("the virtual machine is not defined", true);
            try
            {
                return domain.QemuAgentCommand(json, timeout);
            }
            catch (LibvirtException e) when (e.IsAgentUnavailable || (e.IsOperationInvalid && Active(domain.GetState().State)))
            {
                if (Since(start) >= TimeSpan.FromSeconds(timeout))
                {
                    throw new GuestAgentException($"the guest agent did not answer within {timeout} s (is qemu-guest-agent running in the guest?)", true);
                }
                Thread.Sleep(25); // the guest is booting: the first answer should not wait for a coarse poll
            }
            catch (LibvirtException e) when (e.IsOperationInvalid)
            {
                throw new GuestAgentException("the virtual machine isn't running", true);
            }
            catch (LibvirtException e)
            {
                throw new GuestAgentException(AgentMessage(e.LibvirtMessage), false);
            }
        }
    };

    /// <summary>"internal error: unable to execute QEMU agent command 'guest-exec': MESSAGE" → MESSAGE.</summary>
    internal static string AgentMessage(string libvirt)
    {
        const string Marker = "agent command '";
        var i = libvirt.IndexOf(Marker, StringComparison.Ordinal);
        var j = i < 0 ? -1 : libvirt.IndexOf("': ", i + Marker.Length, StringComparison.Ordinal);
        return j < 0 ? libvirt : libvirt[(j + 3)..];
    }

    /// <summary>An agent failure as the API reports it: 503 when the agent does not answer, 404 for a missing path, else 400.</summary>
    private static HyperlxdException Failure(InstanceSpec spec, GuestAgentException e, string what) =>
        e.Unavailable ? new TransientException($"{what} in virtual machine \"{spec.DisplayName}\" failed: {e.Message}")
        : e.Message.Contains("No such file or directory", StringComparison.Ordinal) ? new NotFoundException($"{what} in virtual machine \"{spec.DisplayName}\" failed: {e.Message}")
        : new BadRequestException($"{what} in virtual machine \"{spec.DisplayName}\" failed: {e.Message}");

    /// <summary>
    /// guest-exec with stdin gathered up front and the output captured (see <see cref="VmExecSession"/>).
    /// The agent must answer a ping within the agent timeout first: an exec into a VM without one fails
    /// with that reason, and the VM keeps running.
    /// </summary>
    public async Task<IExecSession> ExecAsync(InstanceSpec spec, ExecOptions options, CancellationToken ct)
    {
        if (options.Command.Count == 0 || options.Command[0].Length == 0)
        {
            throw new BadRequestException("Invalid exec request: the command is empty");
        }
        if (options.Interactive)
        {
            this.Require(DriverFeatures.InteractiveExec);
        }
        if (options.Uid != 0 || options.Gid != 0)
        {
            throw new BadRequestException("Commands in a virtual machine run as root (the guest agent cannot switch users)");
        }
        if (await GetStatusAsync(spec, ct) is var status && status != InstanceStatus.Running)
        {
            throw new BadRequestException(status == InstanceStatus.Frozen ? "The instance is frozen" : "The instance isn't running");
        }
        var agent = Agent(spec);
        try
        {
            await agent.PingAsync(AgentTimeoutSeconds, ct);
        }
        catch (GuestAgentException e)
        {
            throw Failure(spec, e, "Exec");
        }
        var (path, args) = Command(options);
        return new VmExecSession(agent, path, args, Environment(spec, options), _options.StdinGrace);
    }

    /// <summary>The program and its arguments; a working directory other than / goes through the guest's shell.</summary>
    private static (string Path, IReadOnlyList<string> Args) Command(ExecOptions options) =>
        options.Cwd is { Length: > 0 } cwd && cwd != "/"
            ? ("/bin/sh", ["-c", "cd \"$0\" && exec \"$@\"", cwd, .. options.Command])
            : (options.Command[0], options.Command.Skip(1).ToList());

    /// <summary>LXD's exec environment: PATH, LANG, HOME and USER of root, the instance's <c>environment.*</c>, then the request's.</summary>
    private static List<string> Environment(InstanceSpec spec, ExecOptions options)
    {
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            ["LANG"] = "C.UTF-8",
            ["HOME"] = "/root",
            ["USER"] = "root",
        };
        foreach (var (k, v) in spec.Config.Where(kv => kv.Key.StartsWith("environment.", StringComparison.Ordinal)))
        {
            env[k["environment.".Length..]] = v;
        }
        foreach (var (k, v) in options.Environment)
        {
            env[k] = v;
        }
        return env.Select(kv => kv.Key + "=" + kv.Value).ToList();
    }
}
