namespace Hyperlxd.Core.Config;

/// <summary>The server config as it is now (<c>/1.0</c>'s <c>config</c>): for services whose limits are server keys.</summary>
public interface IServerConfigSource
{
    IReadOnlyDictionary<string, string> Config { get; }
}
