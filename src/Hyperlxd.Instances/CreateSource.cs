namespace Hyperlxd.Instances;

/// <summary>What a new instance's root volume is made from (the checked form of the request's <c>source</c>).</summary>
public abstract record CreateSource;

/// <summary>A cached local image.</summary>
public sealed record ImageCreateSource(string Fingerprint) : CreateSource
{
    public override string ToString() => "image " + Fingerprint[..Math.Min(12, Fingerprint.Length)];
}

/// <summary>
/// A local instance (<c>source.type</c> "copy"), or one of its snapshots when <paramref name="Snapshot"/> is set;
/// <paramref name="InstanceOnly"/> leaves the source's snapshots behind.
/// </summary>
public sealed record CopyCreateSource(string Instance, string? Snapshot, bool InstanceOnly) : CreateSource
{
    public override string ToString() => "copy of " + (Snapshot is null ? Instance : Instance + "/" + Snapshot);
}
