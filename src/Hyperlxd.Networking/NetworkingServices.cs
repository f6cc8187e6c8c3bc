using Hyperlxd.Core.Networks;
using Microsoft.Extensions.DependencyInjection;

namespace Hyperlxd.Networking;

/// <summary>The networking layer as DI services: the manager (needs the open state store) and the <see cref="INetworkHost"/> devices use.</summary>
public static class NetworkingServices
{
    public static IServiceCollection AddNetworking(this IServiceCollection services, NetworkManagerOptions options)
    {
        services.AddSingleton(options);
        services.AddSingleton<NetworkManager>();
        services.AddSingleton<INetworkHost, NetworkHost>();
        return services;
    }
}
