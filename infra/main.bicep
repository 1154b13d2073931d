// `azd up` entry point: one resource group holding the app, its storage, its monitoring and
// the identity that reaches both. No shared keys or instrumentation-key auth anywhere.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name: names the resource group and seeds resource names')
param environmentName string

// The regions that offer Flex Consumption, as Microsoft's template lists them
// (Azure-Samples/durable-functions-quickstart-python-azd infra/main.bicep at d402727,
// 2025-10-10): a region without it would fail midway, after the resource group, storage and
// identity exist. Python 3.13 per region: `az functionapp list-flexconsumption-runtimes`.
@minLength(1)
@description('Region for every resource (one where Flex Consumption is offered)')
@allowed([
  'australiaeast'
  'australiasoutheast'
  'brazilsouth'
  'canadacentral'
  'centralindia'
  'centralus'
  'eastasia'
  'eastus'
  'eastus2'
  'eastus2euap'
  'francecentral'
  'germanywestcentral'
  'italynorth'
  'japaneast'
  'koreacentral'
  'northcentralus'
  'northeurope'
  'norwayeast'
  'southafricanorth'
  'southcentralus'
  'southeastasia'
  'southindia'
  'spaincentral'
  'swedencentral'
  'uaenorth'
  'uksouth'
  'ukwest'
  'westcentralus'
  'westeurope'
  'westus'
  'westus2'
  'westus3'
])
@metadata({ azd: { type: 'location' } })
param location string

// The Durable extension's rule for an Azure Storage task hub (azure-functions-durable-extension
// src/WebJobs.Extensions.DurableTask/Options/AzureStorageOptions.cs ValidateHubName and its
// message: letters and digits, a letter first, 3 to 45 characters). Bicep has no pattern
// decorator: the character rule is checked before provisioning by deploy/azd_hooks.py.
@minLength(3)
@maxLength(45)
@description('Durable task hub name (host.json hubName is %TASKHUB_NAME%): letters and digits, 3-45, a letter first')
param taskHubName string = 'SubOrchestrationHub'

@description('Share of runs whose telemetry is kept, 0..1, decided once per run')
param samplingRatio string = '1.0'

@description('cloud_RoleName of the app rows in Application Insights')
param serviceName string = 'durable-sub-orchestration'

var tags = { 'azd-env-name': environmentName }
var token = toLower(uniqueString(subscription().id, environmentName, location))

resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module app 'app/resources.bicep' = {
  name: 'resources'
  scope: rg
  params: {
    location: location
    tags: tags
    token: token
    taskHubName: taskHubName
    samplingRatio: samplingRatio
    serviceName: serviceName
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.functionAppName
// The predeploy hook waits once per identity for its storage roles (deploy/azd_hooks.py).
output DEPLOY_IDENTITY_PRINCIPAL_ID string = app.outputs.identityPrincipalId
output APPLICATIONINSIGHTS_NAME string = app.outputs.appInsightsName
output WORKBOOK_ID string = app.outputs.workbookId
