using Hyperlxd.Core;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Instances;

/// <summary>A command about to run in a running instance: the driver has been told to expect it.</summary>
public sealed class PreparedExec
{
    private readonly IInstanceDriver _driver;
    private readonly InstanceSpec _spec;

    internal PreparedExec(IInstanceDriver driver, InstanceSpec spec)
    {
        _driver = driver;
        _spec = spec;
    }

    /// <summary>What the driver's exec offers beyond stdio (window resize, signals).</summary>
    public DriverFeatures Features => _driver.Features;

    public Task<IExecSession> StartAsync(ExecOptions options, CancellationToken ct) => _driver.ExecAsync(_spec, options, ct);
}

/// <summary>A console about to be attached to a running instance.</summary>
public sealed class PreparedConsole
{
    private readonly IInstanceDriver _driver;
    private readonly InstanceSpec _spec;

    internal PreparedConsole(IInstanceDriver driver, InstanceSpec spec)
    {
        _driver = driver;
        _spec = spec;
    }

    public Task<Stream> AttachAsync(CancellationToken ct) => _driver.ConsoleAsync(_spec, ct);
}

/// <summary>What reaches inside an instance: exec, console and files, each through the instance's driver.</summary>
public sealed partial class InstanceManager
{
    /// <summary>
    /// Checks that the instance runs and lets the driver get ready for a command (a prepared helper);
    /// the command starts with <see cref="PreparedExec.StartAsync"/> once the client is connected.
    /// </summary>
    public async Task<PreparedExec> PrepareExecAsync(Expanded e, bool interactive, CancellationToken ct)
    {
        if (interactive)
        {
            RequireFeature(e, DriverFeatures.InteractiveExec);
        }
        var driver = DriverOf(e);
        var spec = SpecOf(e);
        var status = await driver.GetStatusAsync(spec, ct);
        if (status != InstanceStatus.Running)
        {
            throw new BadRequestException(status == InstanceStatus.Frozen ? "The instance is frozen" : "The instance isn't running");
        }
        driver.ExpectExec(spec);
        return new PreparedExec(driver, spec);
    }

    /// <summary>Checks that the instance runs; the console attaches with <see cref="PreparedConsole.AttachAsync"/>.</summary>
    public async Task<PreparedConsole> PrepareConsoleAsync(Expanded e, CancellationToken ct)
    {
        RequireFeature(e, DriverFeatures.Console);
        if ((await SafeStateAsync(e, ct)).Status != InstanceStatus.Running)
        {
            throw new BadRequestException("The instance isn't running");
        }
        return new PreparedConsole(DriverOf(e), SpecOf(e));
    }

    /// <summary>The console's recent output (<c>lxc console --show-log</c>).</summary>
    public Task<byte[]> ConsoleLogAsync(Expanded e, CancellationToken ct) =>
        RequireFeature(e, DriverFeatures.Console).ConsoleLogAsync(SpecOf(e), ct);

    public Task<InstanceFile> GetFileAsync(Expanded e, string path, CancellationToken ct) =>
        RequireFeature(e, DriverFeatures.Files).GetFileAsync(SpecOf(e), path, ct);

    public Task PutFileAsync(Expanded e, string path, FileWrite write, Stream content, CancellationToken ct) =>
        RequireFeature(e, DriverFeatures.Files).PutFileAsync(SpecOf(e), path, write, content, ct);

    public Task DeleteFileAsync(Expanded e, string path, CancellationToken ct) =>
        RequireFeature(e, DriverFeatures.Files).DeleteFileAsync(SpecOf(e), path, ct);
}
