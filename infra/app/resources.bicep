// Everything the app runs on, in one resource group. The function app reaches storage and
// Application Insights only through its user-assigned identity: the storage account refuses
// shared keys and Application Insights refuses instrumentation-key-only ingestion.
param location string
param tags object
@description('Unique, lowercase: seeds every resource name')
param token string
param taskHubName string
param samplingRatio string
param serviceName string

@description('Memory of one Flex Consumption instance (MB)')
param instanceMemoryMB int = 2048

@description('Upper bound on instances Flex Consumption scales out to')
param maximumInstanceCount int = 100

var functionAppName = 'func-${token}'
var deploymentContainerName = 'app-package-${token}'

// Built-in role definition ids (the same in every tenant).
var storageRoles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
}
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${token}'
  location: location
  tags: tags
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'st${token}'
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    defaultToOAuthAuthentication: true
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// Flex Consumption runs the app from a package in this container (azd uploads it there).
resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
}

resource workspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'log-${token}'
  location: location
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 30
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-${token}'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspace.id
    DisableLocalAuth: true // ingestion needs an Entra token: APPLICATIONINSIGHTS_AUTHENTICATION_STRING
  }
}

resource storageRoleAssignments 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in items(storageRoles): {
  name: guid(storage.id, identity.id, role.value)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role.value)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}]

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(appInsights.id, identity.id, monitoringMetricsPublisher)
  scope: appInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'plan-${token}'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true // Linux
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  name: functionAppName
  location: location
  tags: union(tags, { 'azd-service-name': 'api' }) // azure.yaml's service
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    siteConfig: {
      minTlsVersion: '1.2'
      // checkov CKV_AZURE_18 and CKV_AZURE_78. Flex Consumption deploys only from its blob
      // container and has no FTP endpoint: ftpsState states that rather than changes it.
      http20Enabled: true
      ftpsState: 'Disabled'
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
      }
      // Flex Consumption takes the language from here, not from FUNCTIONS_WORKER_RUNTIME.
      runtime: {
        name: 'python'
        version: '3.13'
      }
    }
  }
  // The deployment storage above names the container by string, so Bicep sees no reference.
  dependsOn: [
    deploymentContainer
  ]
}

// Every setting has a reader (tests/deploy/test_settings.py checks it against the code,
// local.settings.json.example and the README).
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'appsettings'
  properties: {
    // Host storage and the Durable task hub, through the identity (no connection string).
    AzureWebJobsStorage__credential: 'managedidentity'
    AzureWebJobsStorage__clientId: identity.properties.clientId
    AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
    AzureWebJobsStorage__queueServiceUri: storage.properties.primaryEndpoints.queue
    AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
    TASKHUB_NAME: taskHubName
    // Telemetry: the host's and the app's exporter both authenticate with the identity.
    APPLICATIONINSIGHTS_CONNECTION_STRING: appInsights.properties.ConnectionString
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identity.properties.clientId};Authorization=AAD'
    OTEL_SERVICE_NAME: serviceName
    TELEMETRY_SAMPLING_RATIO: samplingRatio
    TELEMETRY_SYNC_EXPORT: 'false'
    // The app configures its own exporters; the worker's would export every log twice.
    PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'false'
    PYTHON_ENABLE_OPENTELEMETRY: 'false'
    HTTP_AUTH_LEVEL: 'function'
  }
  dependsOn: [
    storageRoleAssignments
    metricsPublisher
    deploymentContainer
  ]
}

// The runs workbook, bound to this Application Insights; a stable name, so a redeploy
// updates it rather than adding a copy.
module workbook '../../dashboards/deploy/workbook.bicep' = {
  name: 'workbook'
  params: {
    appInsightsResourceId: appInsights.id
    location: location
  }
}

output functionAppName string = functionApp.name
output identityPrincipalId string = identity.properties.principalId
output appInsightsName string = appInsights.name
output workbookId string = workbook.outputs.workbookResourceId
